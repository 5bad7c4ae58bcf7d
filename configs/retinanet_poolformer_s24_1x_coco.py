# RetinaNet + PoolFormer-S24, 1x schedule on COCO (reference: 38.9 box AP, 31.1M params).
# Same recipe as retinanet_poolformer_s12_1x_coco.py; only the backbone changes.
# Backbone weights: checkpoints/poolformer_s24.pth.tar (official ImageNet-1k file).
_base_ = './retinanet_poolformer_s12_1x_coco.py'

model = dict(
    backbone=dict(
        arch='poolformer_s24',
        init_cfg=dict(checkpoint='checkpoints/poolformer_s24.pth.tar')))
