# Semantic FPN + PoolFormer-M48 on ADE20K (reference: 42.7 mIoU, 77.1M params): the S12 recipe.
# Weights: OpenMMLab's copy of the official ImageNet-1k file, verified on first use.
_base_ = './fpn_poolformer_s12_40k_ade20k.py'

model = dict(
    backbone=dict(
        arch='poolformer_m48',
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/poolformer/poolformer-m48_3rdparty_32xb128_in1k_20220414-9378f3eb.pth')),  # noqa: E501
    neck=dict(in_channels=[96, 192, 384, 768]))
