# RetinaNet + PoolFormer-M36, 1x schedule on COCO (no published reference).
# Same recipe as retinanet_poolformer_s12_1x_coco.py; only the backbone changes.
# Backbone weights: checkpoints/poolformer_m36.pth.tar (official ImageNet-1k file).
_base_ = './retinanet_poolformer_s12_1x_coco.py'

model = dict(
    backbone=dict(
        arch='poolformer_m36',
        init_cfg=dict(checkpoint='checkpoints/poolformer_m36.pth.tar')),
    neck=dict(in_channels=[192, 384, 768]))
