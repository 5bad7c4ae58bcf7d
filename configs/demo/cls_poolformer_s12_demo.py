# PoolFormer-S12 pretrained on the synthetic shapes classification data of
# tools/make_demo_data.py (`cls`): the demos' stand-in for ImageNet, since no ImageNet file can
# be had offline. The detection demo (retinanet_poolformer_s12_demo.py) starts from the
# backbone this trains, as the real configs start from the ImageNet file.
#
#   python tools/make_demo_data.py cls
#   python tools/train.py configs/demo/cls_poolformer_s12_demo.py
#   python tools/convert_checkpoint.py work_dirs/cls_poolformer_s12_demo/iter_3000.pth \
#       checkpoints/demo/poolformer_s12_shapes.safetensors --arch poolformer_s12 --half
#
# (`python tools/demo.py --pretrain` runs these three steps; `python tools/demo.py --config
# configs/demo/cls_poolformer_s12_demo.py` trains, tests and prints the top-1.)
# Same model and recipe as ../cls_poolformer_s12_300e_in1k.py except: the demo data
# (4 classes, 20000 training images of 64x64 with one shape), flip as the only augmentation
# (no RandAugment, RandomErasing, Mixup or CutMix: the task is simple and the schedule short),
# no stochastic depth, one device with batch 64, lr 1e-3 (x20 for the layer scales), and an
# iteration-based schedule (3000 iterations, ~10 epochs: 500 of linear warm-up, then cosine)
# with a single evaluation at the end. Measured numbers: README, "Demos".
_base_ = '../cls_poolformer_s12_300e_in1k.py'

data_root = 'data/demo_cls'
metainfo = dict(classes=('circle', 'square', 'triangle', 'star'))
max_iters = 3000
warmup_iters = 500

model = dict(
    data_preprocessor=dict(num_classes=4),
    backbone=dict(drop_path_rate=0.0),
    head=dict(num_classes=4),
    train_cfg=None)  # no Mixup / CutMix

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='train',
        metainfo=metainfo,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='val',
        metainfo=metainfo,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

# schedule: max_iters iterations of batch 64, evaluated once at the end
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
# x20 for the layer scales: they start at 1e-5, which keeps every block nearly closed (the
# network nearly linear) for most of a short schedule otherwise
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(custom_keys={'.layer_scale': dict(lr_mult=20.0, decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters - warmup_iters,
        eta_min=1e-5,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters)
]
auto_scale_lr = dict(enable=False, base_batch_size=64)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        _delete_=True, type='SafeCheckpointHook', by_epoch=False, interval=max_iters,
        max_keep_ckpts=1))
log_processor = dict(by_epoch=False, window_size=10)
randomness = dict(seed=0)
