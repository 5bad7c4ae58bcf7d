# Mask R-CNN + PoolFormer-S36, 1x COCO (reference: 41.0 box AP, 37.7 mask AP, 50.5M params):
# the S12 recipe. Weights: OpenMMLab's copy of the official ImageNet-1k file, verified on first use.
_base_ = './mask_rcnn_poolformer_s12_1x_coco.py'

model = dict(
    backbone=dict(
        arch='poolformer_s36',
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/poolformer/poolformer-s36_3rdparty_32xb128_in1k_20220414-d78ff3e8.pth')))  # noqa: E501
