# Semantic FPN + PoolFormer-S36, 40k iterations on ADE20K, 512x512 crops
# (reference: 42.0 mIoU, 34.6M params).
# Same recipe as fpn_poolformer_s12_40k_ade20k.py; only the backbone changes.
# Backbone weights: checkpoints/poolformer_s36.pth.tar (official ImageNet-1k file).
_base_ = './fpn_poolformer_s12_40k_ade20k.py'

model = dict(
    backbone=dict(
        arch='poolformer_s36',
        init_cfg=dict(checkpoint='checkpoints/poolformer_s36.pth.tar')))
