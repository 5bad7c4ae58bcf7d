# Semantic FPN + ConvFormer-S18, 40k iterations on ADE20K, 512x512 crops.
# No published dense-prediction result exists for the MetaFormer v2 families: this config
# applies the PoolFormer v1 recipe of fpn_poolformer_s12_40k_ade20k.py unchanged (AdamW lr
# 2e-4, wd 1e-4, poly, batch 32, drop path 0), untuned.
# v2 backbones have no output norms by default; `out_norm=True` adds one (with bias) on
# each of the four returned maps so the FPN receives normalised features, as with v1. They
# are not in the ImageNet checkpoint and start from their default init.
# Backbone weights: the official ImageNet-1k file of sail-sg/metaformer, fetched on first use
# (no sha256 is published: the first download's is recorded and checked; README,
# "Pretrained weights and checkpoints").
_base_ = './fpn_poolformer_s12_40k_ade20k.py'

model = dict(
    backbone=dict(
        arch='convformer_s18',
        out_norm=True,
        init_cfg=dict(checkpoint='https://huggingface.co/sail/dl/resolve/main/convformer/convformer_s18.pth')))  # noqa: E501
