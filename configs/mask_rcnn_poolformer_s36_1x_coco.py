# Mask R-CNN + PoolFormer-S36, 1x schedule on COCO (reference: 41.0 box AP, 37.7 mask AP, 50.5M params).
# Same recipe as mask_rcnn_poolformer_s12_1x_coco.py; only the backbone changes.
# Backbone weights: checkpoints/poolformer_s36.pth.tar (official ImageNet-1k file).
_base_ = './mask_rcnn_poolformer_s12_1x_coco.py'

model = dict(
    backbone=dict(
        arch='poolformer_s36',
        init_cfg=dict(checkpoint='checkpoints/poolformer_s36.pth.tar')))
