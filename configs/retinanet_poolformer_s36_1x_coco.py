# RetinaNet + PoolFormer-S36, 1x schedule on COCO (reference: 39.5 box AP, 40.6M params).
# Same recipe as retinanet_poolformer_s12_1x_coco.py; only the backbone changes.
# Backbone weights: checkpoints/poolformer_s36.pth.tar (official ImageNet-1k file).
_base_ = './retinanet_poolformer_s12_1x_coco.py'

model = dict(
    backbone=dict(
        arch='poolformer_s36',
        init_cfg=dict(checkpoint='checkpoints/poolformer_s36.pth.tar')))
