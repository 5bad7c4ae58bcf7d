# Semantic FPN + PoolFormer-S36 on ADE20K (reference: 42.0 mIoU, 34.6M params): the S12 recipe.
# Weights: OpenMMLab's copy of the official ImageNet-1k file, verified on first use.
_base_ = './fpn_poolformer_s12_40k_ade20k.py'

model = dict(
    backbone=dict(
        arch='poolformer_s36',
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/poolformer/poolformer-s36_3rdparty_32xb128_in1k_20220414-d78ff3e8.pth')))  # noqa: E501
