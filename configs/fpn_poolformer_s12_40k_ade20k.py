# Semantic FPN + PoolFormer-S12, 40k iterations on ADE20K, 512x512 crops
# (reference: 37.2 mIoU, 15.7M params).
# Recipe of the PoolFormer paper: AdamW lr 2e-4, weight decay 1e-4, poly decay (power 0.9)
# to 0 without warm-up, total batch 32 (8 GPUs x 4 images), drop path 0; evaluation every
# 4000 iterations at short side 512 resized to a multiple of 32.
# With a different total batch, scale the lr linearly.
# Backbone weights: OpenMMLab's hash-stamped copy of the official ImageNet-1k file, fetched
# and verified on first use (README, "Pretrained weights and checkpoints").
_base_ = [
    '_base_/models/fpn_semantic.py', '_base_/datasets/ade20k.py',
    '_base_/schedules/schedule_40k_adamw_poly.py', '_base_/default_runtime_seg.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)

model = dict(
    data_preprocessor=data_preprocessor,
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
    neck=dict(in_channels=[64, 128, 320, 512], num_outs=4),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)  # x 8 GPUs = 32

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0002, weight_decay=0.0001),
    clip_grad=None)
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        begin=0,
        end=40000,
        by_epoch=False)
]
