# Mask R-CNN + PoolFormer-S12 on the synthetic shapes dataset of tools/make_demo_data.py:
# trains on a CPU, then evaluates once (COCO box and mask AP).
#
#   python tools/demo.py --config configs/demo/mask_rcnn_poolformer_s12_demo.py
#
# Same model and recipe as ../mask_rcnn_poolformer_s12_1x_coco.py except: the demo data
# (4 classes, 128x128 images, trained at that size), the demo backbone (pretrained on shapes
# classification, as in retinanet_poolformer_s12_demo.py), batch 2 on one device, lr 3e-4 and
# a short iteration-based schedule (200 iterations, lr x0.1 at 75% and 90%) with a single
# evaluation at the end. The RoI heads cost per image whatever the image size. Measured
# numbers: README, "Demos on the synthetic shapes data".
_base_ = '../mask_rcnn_poolformer_s12_1x_coco.py'

data_root = 'data/demo_coco/'
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'star'),
    palette=[(220, 20, 60), (0, 110, 230), (250, 170, 30), (60, 180, 75)])
img_scale = (128, 128)  # the generated size: no resizing
max_iters = 500

model = dict(
    backbone=dict(
        fast=False,  # TEMP until the fast path's contiguous-output fix lands on main
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/demo/poolformer_s12_shapes.safetensors')),
    roi_head=dict(
        bbox_head=dict(num_classes=4),
        mask_roi_extractor=dict(roi_layer=dict(output_size=7)),
        mask_head=dict(num_classes=4)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(sampler=dict(num=64), mask_size=14)),
    test_cfg=dict(
        rpn=dict(nms_pre=200, max_per_img=100), rcnn=dict(max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
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
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
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
    optimizer=dict(type='AdamW', lr=0.0003, weight_decay=0.0001))
auto_scale_lr = dict(enable=False, base_batch_size=4)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=100,  # TEMP: measuring run
        max_keep_ckpts=1))
log_processor = dict(by_epoch=False, window_size=10)
