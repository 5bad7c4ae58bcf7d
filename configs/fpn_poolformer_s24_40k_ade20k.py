# Semantic FPN + PoolFormer-S24, 40k iterations on ADE20K, 512x512 crops
# (reference: 40.3 mIoU, 25.1M params).
# Same recipe as fpn_poolformer_s12_40k_ade20k.py; only the backbone changes.
# Backbone weights: checkpoints/poolformer_s24.pth.tar (official ImageNet-1k file).
_base_ = './fpn_poolformer_s12_40k_ade20k.py'

model = dict(
    backbone=dict(
        arch='poolformer_s24',
        init_cfg=dict(checkpoint='checkpoints/poolformer_s24.pth.tar')))
