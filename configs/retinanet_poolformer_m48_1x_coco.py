# RetinaNet + PoolFormer-M48, 1x schedule on COCO (no published reference).
# Same recipe as retinanet_poolformer_s12_1x_coco.py; only the backbone changes.
# Backbone weights: OpenMMLab's hash-stamped copy of the official ImageNet-1k file, fetched
# and verified on first use (README, "Pretrained weights and checkpoints").
_base_ = './retinanet_poolformer_s12_1x_coco.py'

model = dict(
    backbone=dict(
        arch='poolformer_m48',
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/poolformer/poolformer-m48_3rdparty_32xb128_in1k_20220414-9378f3eb.pth')),  # noqa: E501
    neck=dict(in_channels=[192, 384, 768]))
