# RetinaNet + PoolFormer-S24, 1x COCO (reference: 38.9 box AP, 31.1M params): the S12 recipe.
# Weights: OpenMMLab's copy of the official ImageNet-1k file, verified on first use.
_base_ = './retinanet_poolformer_s12_1x_coco.py'

model = dict(
    backbone=dict(
        arch='poolformer_s24',
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/poolformer/poolformer-s24_3rdparty_32xb128_in1k_20220414-d7055904.pth')))  # noqa: E501
