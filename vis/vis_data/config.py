crop_size = (
    256,
    256,
)
custom_imports = dict(
    allow_failed_imports=False, imports=[
        'mmmeta',
    ])
data_preprocessor = dict(
    bgr_to_rgb=True,
    mean=[
        123.675,
        116.28,
        103.53,
    ],
    pad_val=0,
    seg_pad_val=255,
    size=(
        512,
        512,
    ),
    std=[
        58.395,
        57.12,
        57.375,
    ],
    type='SegDataPreProcessor')
data_root = 'data/demo_ade'
dataset_type = 'BaseSegDataset'
default_hooks = dict(
    checkpoint=dict(
        by_epoch=False, interval=360, max_keep_ckpts=1, type='CheckpointHook'),
    logger=dict(interval=10, log_metric_by_epoch=False, type='LoggerHook'),
    param_scheduler=dict(type='ParamSchedulerHook'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    timer=dict(type='IterTimerHook'),
    visualization=dict(draw=True, interval=1, type='SegVisualizationHook'))
default_scope = 'mmseg'
env_cfg = dict(
    cudnn_benchmark=True,
    dist_cfg=dict(backend='nccl'),
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
img_ratios = [
    0.5,
    0.75,
    1.0,
    1.25,
    1.5,
    1.75,
]
img_scale = (
    640,
    320,
)
launcher = 'none'
load_from = '/tmp/exp/wseg/iter_360.pth'
log_level = 'INFO'
log_processor = dict(by_epoch=False, window_size=10)
max_iters = 360
metainfo = dict(
    classes=(
        'background',
        'circle',
        'square',
        'triangle',
        'star',
    ),
    palette=[
        (
            120,
            120,
            120,
        ),
        (
            220,
            20,
            60,
        ),
        (
            0,
            110,
            230,
        ),
        (
            250,
            170,
            30,
        ),
        (
            60,
            180,
            75,
        ),
    ])
model = dict(
    backbone=dict(
        arch='poolformer_s12',
        drop_path_rate=0.0,
        frozen_stages=-1,
        init_cfg=None,
        out_indices=(
            0,
            1,
            2,
            3,
        ),
        type='MetaFormer'),
    data_preprocessor=dict(
        bgr_to_rgb=True,
        mean=[
            123.675,
            116.28,
            103.53,
        ],
        pad_val=0,
        seg_pad_val=255,
        size=(
            256,
            256,
        ),
        std=[
            58.395,
            57.12,
            57.375,
        ],
        type='SegDataPreProcessor'),
    decode_head=dict(
        align_corners=False,
        channels=128,
        dropout_ratio=0.1,
        feature_strides=[
            4,
            8,
            16,
            32,
        ],
        in_channels=[
            256,
            256,
            256,
            256,
        ],
        in_index=[
            0,
            1,
            2,
            3,
        ],
        loss_decode=dict(
            loss_weight=1.0, type='CrossEntropyLoss', use_sigmoid=False),
        norm_cfg=dict(requires_grad=True, type='BN'),
        num_classes=5,
        type='FPNHead'),
    neck=dict(
        in_channels=[
            64,
            128,
            320,
            512,
        ],
        num_outs=4,
        out_channels=256,
        type='FPN'),
    test_cfg=dict(mode='whole'),
    train_cfg=dict(),
    type='EncoderDecoder')
norm_cfg = dict(requires_grad=True, type='BN')
optim_wrapper = dict(
    optimizer=dict(lr=0.001, type='AdamW', weight_decay=0.0001),
    paramwise_cfg=dict(
        custom_keys=dict(layer_scale=dict(decay_mult=0.0, lr_mult=30.0))),
    type='OptimWrapper')
param_scheduler = [
    dict(begin=0, by_epoch=False, end=50, start_factor=0.001, type='LinearLR'),
    dict(
        begin=50,
        by_epoch=False,
        end=360,
        eta_min=0.0,
        power=0.9,
        type='PolyLR'),
]
resume = False
test_cfg = dict(type='TestLoop')
test_dataloader = dict(
    batch_size=1,
    dataset=dict(
        data_prefix=dict(
            img_path='images/validation',
            seg_map_path='annotations/validation'),
        data_root='data/demo_ade',
        img_suffix='.jpg',
        metainfo=dict(
            classes=(
                'background',
                'circle',
                'square',
                'triangle',
                'star',
            ),
            palette=[
                (
                    120,
                    120,
                    120,
                ),
                (
                    220,
                    20,
                    60,
                ),
                (
                    0,
                    110,
                    230,
                ),
                (
                    250,
                    170,
                    30,
                ),
                (
                    60,
                    180,
                    75,
                ),
            ]),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(keep_ratio=True, scale=(
                640,
                320,
            ), type='Resize'),
            dict(size_divisor=32, type='ResizeToMultiple'),
            dict(reduce_zero_label=True, type='LoadAnnotations'),
            dict(type='PackSegInputs'),
        ],
        reduce_zero_label=True,
        seg_map_suffix='.png',
        type='BaseSegDataset'),
    num_workers=2,
    persistent_workers=True,
    sampler=dict(shuffle=False, type='DefaultSampler'))
test_evaluator = dict(
    iou_metrics=[
        'mIoU',
    ], type='IoUMetric')
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(keep_ratio=True, scale=(
        640,
        320,
    ), type='Resize'),
    dict(size_divisor=32, type='ResizeToMultiple'),
    dict(reduce_zero_label=True, type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_cfg = dict(max_iters=360, type='IterBasedTrainLoop', val_interval=360)
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        data_prefix=dict(
            img_path='images/training', seg_map_path='annotations/training'),
        data_root='data/demo_ade',
        img_suffix='.jpg',
        metainfo=dict(
            classes=(
                'background',
                'circle',
                'square',
                'triangle',
                'star',
            ),
            palette=[
                (
                    120,
                    120,
                    120,
                ),
                (
                    220,
                    20,
                    60,
                ),
                (
                    0,
                    110,
                    230,
                ),
                (
                    250,
                    170,
                    30,
                ),
                (
                    60,
                    180,
                    75,
                ),
            ]),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(reduce_zero_label=True, type='LoadAnnotations'),
            dict(
                keep_ratio=True,
                ratio_range=(
                    0.5,
                    2.0,
                ),
                scale=(
                    640,
                    320,
                ),
                type='RandomResize'),
            dict(
                cat_max_ratio=0.75, crop_size=(
                    256,
                    256,
                ), type='RandomCrop'),
            dict(prob=0.5, type='RandomFlip'),
            dict(type='PhotoMetricDistortion'),
            dict(type='PackSegInputs'),
        ],
        reduce_zero_label=True,
        seg_map_suffix='.png',
        type='BaseSegDataset'),
    num_workers=2,
    persistent_workers=True,
    sampler=dict(shuffle=True, type='InfiniteSampler'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(reduce_zero_label=True, type='LoadAnnotations'),
    dict(
        keep_ratio=True,
        ratio_range=(
            0.5,
            2.0,
        ),
        scale=(
            640,
            320,
        ),
        type='RandomResize'),
    dict(cat_max_ratio=0.75, crop_size=(
        256,
        256,
    ), type='RandomCrop'),
    dict(prob=0.5, type='RandomFlip'),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
tta_model = dict(type='SegTTAModel')
tta_pipeline = [
    dict(backend_args=None, type='LoadImageFromFile'),
    dict(
        transforms=[
            [
                dict(keep_ratio=True, scale=(
                    320,
                    160,
                ), type='Resize'),
                dict(keep_ratio=True, scale=(
                    480,
                    240,
                ), type='Resize'),
                dict(keep_ratio=True, scale=(
                    640,
                    320,
                ), type='Resize'),
                dict(keep_ratio=True, scale=(
                    800,
                    400,
                ), type='Resize'),
                dict(keep_ratio=True, scale=(
                    960,
                    480,
                ), type='Resize'),
                dict(keep_ratio=True, scale=(
                    1120,
                    560,
                ), type='Resize'),
            ],
            [
                dict(size_divisor=32, type='ResizeToMultiple'),
            ],
            [
                dict(direction='horizontal', prob=0.0, type='RandomFlip'),
                dict(direction='horizontal', prob=1.0, type='RandomFlip'),
            ],
            [
                dict(reduce_zero_label=True, type='LoadAnnotations'),
            ],
            [
                dict(type='PackSegInputs'),
            ],
        ],
        type='TestTimeAug'),
]
val_cfg = dict(type='ValLoop')
val_dataloader = dict(
    batch_size=1,
    dataset=dict(
        data_prefix=dict(
            img_path='images/validation',
            seg_map_path='annotations/validation'),
        data_root='data/demo_ade',
        img_suffix='.jpg',
        metainfo=dict(
            classes=(
                'background',
                'circle',
                'square',
                'triangle',
                'star',
            ),
            palette=[
                (
                    120,
                    120,
                    120,
                ),
                (
                    220,
                    20,
                    60,
                ),
                (
                    0,
                    110,
                    230,
                ),
                (
                    250,
                    170,
                    30,
                ),
                (
                    60,
                    180,
                    75,
                ),
            ]),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(keep_ratio=True, scale=(
                640,
                320,
            ), type='Resize'),
            dict(size_divisor=32, type='ResizeToMultiple'),
            dict(reduce_zero_label=True, type='LoadAnnotations'),
            dict(type='PackSegInputs'),
        ],
        reduce_zero_label=True,
        seg_map_suffix='.png',
        type='BaseSegDataset'),
    num_workers=2,
    persistent_workers=True,
    sampler=dict(shuffle=False, type='DefaultSampler'))
val_evaluator = dict(
    iou_metrics=[
        'mIoU',
    ], type='IoUMetric')
vis_backends = [
    dict(type='LocalVisBackend'),
]
visualizer = dict(
    name='visualizer',
    save_dir='vis',
    type='SegLocalVisualizer',
    vis_backends=[
        dict(type='LocalVisBackend'),
    ])
work_dir = '/tmp/exp/wseg'
