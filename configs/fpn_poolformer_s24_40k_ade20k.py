# Semantic FPN + PoolFormer-S24 on ADE20K (reference: 40.3 mIoU, 25.1M params): the S12 recipe.
# Weights: OpenMMLab's copy of the official ImageNet-1k file, verified on first use.
_base_ = './fpn_poolformer_s12_40k_ade20k.py'

model = dict(
    backbone=dict(
        arch='poolformer_s24',
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/poolformer/poolformer-s24_3rdparty_32xb128_in1k_20220414-d7055904.pth')))  # noqa: E501
