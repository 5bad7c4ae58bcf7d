# Mask R-CNN + PoolFormer-S12 on the synthetic shapes dataset of tools/make_demo_data.py:
# trains on a CPU, then evaluates once (COCO box and mask AP).
#
#   python tools/demo.py --config configs/demo/mask_rcnn_poolformer_s12_demo.py
#
# Same model (same layers, same weight shapes) and recipe as ../mask_rcnn_poolformer_s12_1x_coco.py
# except: the demo data (4 classes, 128x128 images with 1-3 shapes of 32-64 px, trained at that
# size), the demo backbone (pretrained on shapes classification, as in
# retinanet_poolformer_s12_demo.py), and how many RoIs the two stages handle. Profile of one
# training iteration (single-thread CPU time, reference backbone path): with the COCO sampling
# (2000/1000 RPN proposals, 512 sampled RoIs, 28x28 masks, batch 2) 10.5 s, of which the box
# head (1024 RoIs) 1.4 s forward and the mask head (~40 positive RoIs, ~0.5 GMAC each) 1.4 s
# forward, backward ~2x forward; backbone + FPN + RPN 0.4 s forward; data loading 0.01 s.
# The RoI heads cost per RoI, not per pixel, so:
#   - RPN: 200 boxes per level before NMS, 100 proposals kept (train and test; COCO: 2000/1000
#     and 1000/1000); the images hold at most 3 shapes;
#   - 64 sampled RoIs per image (COCO: 512; same 25% positives): box head work / 8;
#   - mask head on 7x7 RoI features -> 14x14 masks (COCO: 14 -> 28): same layers, 4x less work
#     per positive RoI, still 2-5 px per mask cell on these shapes;
#   - at most 20 detections per image at test (COCO: 100).
# One iteration of batch 4 then costs 4.9 s of CPU time on the same profile (1.8x a RetinaNet
# demo iteration of batch 4; the COCO sampling cost 3.8x that per batch of 2). RoIAlign is the
# largest single cost left (mmcv's CPU kernel: 256 RoIs of 256 channels take 0.23 s forward and
# 0.57 s backward at sampling_ratio 0, 0.19 / 0.36 s at 2), so both RoI extractors sample 2x2
# points per bin (torchvision's MultiScaleRoIAlign default) instead of adaptively.
# Schedule: batch 2, AdamW lr 3e-4, 50-iteration warm-up, 500 iterations with lr x0.1 at 75% and
# 90%, evaluated once by the test step (tools/demo.py trains without validation).
# Measured with tools/demo.py on 2 CPU cores (numbers also in the README, "Demos"):
#   this recipe: box mAP 0.419 (AP50 0.676, AP75 0.404), mask mAP 0.379 (AP50 0.651, AP75
#   0.396); wall time 17.4 min (train + a redundant end-of-training validation, since removed +
#   test + inference; 1.66-1.88 s/iteration on this shared machine, where a 30-iteration probe
#   ran at 1.5). The same with 400 iterations: 0.353 / 0.283 in 14.9 min (2.57 s/iteration by
#   its end): mask mAP below 0.3. Batch 4, 300 iterations: 0.393 / 0.320.
#   Earlier recipe (batch 4, 500 iterations, adaptive RoIAlign sampling): 0.553 / 0.498, at
#   2.7-2.9 s/iteration (~25 min). Old demo recipe (200 iterations, COCO sampling): 0.005 / 0.001.
_base_ = '../mask_rcnn_poolformer_s12_1x_coco.py'

data_root = 'data/demo_coco/'
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'star'),
    palette=[(220, 20, 60), (0, 110, 230), (250, 170, 30), (60, 180, 75)])
img_scale = (128, 128)  # the generated size: no resizing
max_iters = 500

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/demo/poolformer_s12_shapes.safetensors')),
    roi_head=dict(
        bbox_roi_extractor=dict(roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(num_classes=4),
        mask_roi_extractor=dict(roi_layer=dict(output_size=7, sampling_ratio=2)),
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
    batch_size=2,
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
auto_scale_lr = dict(enable=False, base_batch_size=2)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='SafeCheckpointHook', by_epoch=False, interval=max_iters,
        max_keep_ckpts=1))
log_processor = dict(by_epoch=False, window_size=10)
