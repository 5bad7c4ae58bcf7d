# Mask R-CNN + PoolFormer-S24, 1x schedule on COCO (reference: 40.1 box AP, 37.0 mask AP, 41.0M params).
# Same recipe as mask_rcnn_poolformer_s12_1x_coco.py; only the backbone changes.
# Backbone weights: checkpoints/poolformer_s24.pth.tar (official ImageNet-1k file).
_base_ = './mask_rcnn_poolformer_s12_1x_coco.py'

model = dict(
    backbone=dict(
        arch='poolformer_s24',
        init_cfg=dict(checkpoint='checkpoints/poolformer_s24.pth.tar')))
