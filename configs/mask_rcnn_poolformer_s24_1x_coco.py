# Mask R-CNN + PoolFormer-S24, 1x COCO (reference: 40.1 box AP, 37.0 mask AP, 41.0M params):
# the S12 recipe. Weights: OpenMMLab's copy of the official ImageNet-1k file, verified on first use.
_base_ = './mask_rcnn_poolformer_s12_1x_coco.py'

model = dict(
    backbone=dict(
        arch='poolformer_s24',
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/poolformer/poolformer-s24_3rdparty_32xb128_in1k_20220414-d7055904.pth')))  # noqa: E501
