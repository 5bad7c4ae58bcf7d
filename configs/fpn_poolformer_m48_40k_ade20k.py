# Semantic FPN + PoolFormer-M48, 40k iterations on ADE20K, 512x512 crops
# (reference: 42.7 mIoU, 77.1M params).
# Same recipe as fpn_poolformer_s12_40k_ade20k.py; only the backbone changes.
# Backbone weights: checkpoints/poolformer_m48.pth.tar (official ImageNet-1k file).
_base_ = './fpn_poolformer_s12_40k_ade20k.py'

model = dict(
    backbone=dict(
        arch='poolformer_m48',
        init_cfg=dict(checkpoint='checkpoints/poolformer_m48.pth.tar')),
    neck=dict(in_channels=[96, 192, 384, 768]))
