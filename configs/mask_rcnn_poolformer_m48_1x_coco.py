# Mask R-CNN + PoolFormer-M48, 1x schedule on COCO (no published reference).
# Same recipe as mask_rcnn_poolformer_s12_1x_coco.py; only the backbone changes.
# Backbone weights: checkpoints/poolformer_m48.pth.tar (official ImageNet-1k file).
_base_ = './mask_rcnn_poolformer_s12_1x_coco.py'

model = dict(
    backbone=dict(
        arch='poolformer_m48',
        init_cfg=dict(checkpoint='checkpoints/poolformer_m48.pth.tar')),
    neck=dict(in_channels=[96, 192, 384, 768]))
