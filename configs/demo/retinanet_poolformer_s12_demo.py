# RetinaNet + PoolFormer-S12 on the synthetic shapes dataset of tools/make_demo_data.py: the
# README's main command (`make demo` = tools/demo.py) trains it on a CPU, then evaluates once
# (COCO box AP).
#
#   python tools/make_demo_data.py coco
#   python tools/train.py configs/demo/retinanet_poolformer_s12_demo.py
#
# Same model and recipe as ../retinanet_poolformer_s12_1x_coco.py except: the demo data
# (4 classes, 1000 training images of 128x128 with 1-3 shapes of 32-64 px, trained at that
# size); the backbone starts from the demo's stand-in for ImageNet (no ImageNet file can be
# had offline): checkpoints/demo/poolformer_s12_shapes.safetensors, PoolFormer-S12 pretrained
# on shapes classification by cls_poolformer_s12_demo.py (tools/demo.py makes it again when the
# file is missing); batch 4 on one device; lr 2e-4 after a 100-iteration warm-up; a short
# iteration-based schedule (2000 iterations, lr x0.1 at 75% and 90%) with a single evaluation
# at the end. Measured numbers: README, "Demos on the synthetic shapes data".
_base_ = '../retinanet_poolformer_s12_1x_coco.py'

data_root = 'data/demo_coco/'
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'star'),
    palette=[(220, 20, 60), (0, 110, 230), (250, 170, 30), (60, 180, 75)])
img_scale = (128, 128)  # the generated size: no resizing
max_iters = 2000

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/demo/poolformer_s12_shapes.safetensors')),
    bbox_head=dict(num_classes=4))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# schedule: max_iters iterations of batch 4, evaluated once at the end
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=max_iters,
        milestones=[int(max_iters * 0.75), int(max_iters * 0.9)],
        gamma=0.1)
]
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0002, weight_decay=0.0001))
auto_scale_lr = dict(enable=False, base_batch_size=4)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='SafeCheckpointHook', by_epoch=False, interval=max_iters,
        max_keep_ckpts=1))
log_processor = dict(by_epoch=False, window_size=10)
