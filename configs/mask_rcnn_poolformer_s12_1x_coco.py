# Mask R-CNN + PoolFormer-S12, 1x schedule on COCO
# (reference: 37.3 box AP, 34.6 mask AP, 31.6M params).
# Recipe of the PoolFormer paper: AdamW lr 2e-4, weight decay 1e-4, total batch 16
# (8 GPUs x 2 images), 12 epochs with lr x0.1 after epochs 8 and 11, 500-iteration linear
# warm-up, drop path 0. With a different total batch, scale the lr linearly
# (`tools/train.py --auto-scale-lr` does it from base_batch_size=16).
# Backbone weights: OpenMMLab's hash-stamped copy of the official ImageNet-1k file, fetched
# and verified on first use (README, "Pretrained weights and checkpoints").
_base_ = [
    '_base_/models/mask_rcnn_fpn.py', '_base_/datasets/coco_instance.py',
    '_base_/schedules/schedule_1x_adamw.py', '_base_/default_runtime_det.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='MetaFormer',
        arch='poolformer_s12',
        out_indices=(0, 1, 2, 3),  # strides 4/8/16/32
        drop_path_rate=0.0,
        frozen_stages=-1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/poolformer/poolformer-s12_3rdparty_32xb128_in1k_20220414-f8d83051.pth')),  # noqa: E501
    neck=dict(in_channels=[64, 128, 320, 512], num_outs=5))

train_dataloader = dict(batch_size=2)  # x 8 GPUs = 16

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0002, weight_decay=0.0001))

auto_scale_lr = dict(enable=False, base_batch_size=16)
