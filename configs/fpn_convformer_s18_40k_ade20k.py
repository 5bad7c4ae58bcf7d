# Semantic FPN + ConvFormer-S18, 40k iterations on ADE20K, 512x512 crops.
# No published dense-prediction result exists for the MetaFormer v2 families: this config
# applies the PoolFormer v1 recipe of fpn_poolformer_s12_40k_ade20k.py unchanged (AdamW lr
# 2e-4, wd 1e-4, poly, batch 32, drop path 0), untuned.
# v2 backbones have no output norms by default; `out_norm=True` adds one (with bias) on
# each of the four returned maps so the FPN receives normalised features, as with v1. They
# are not in the ImageNet checkpoint and start from their default init.
# Backbone weights: checkpoints/convformer_s18.pth (official ImageNet-1k file of sail-sg/metaformer).
_base_ = './fpn_poolformer_s12_40k_ade20k.py'

model = dict(
    backbone=dict(
        arch='convformer_s18',
        out_norm=True,
        init_cfg=dict(checkpoint='checkpoints/convformer_s18.pth')))
