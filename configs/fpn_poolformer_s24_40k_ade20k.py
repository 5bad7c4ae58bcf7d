# Semantic FPN + PoolFormer-S24, 40k iterations on ADE20K, 512x512 crops
# (reference: 40.3 mIoU, 25.1M params).
# Same recipe as fpn_poolformer_s12_40k_ade20k.py; only the backbone changes.
# Backbone weights: OpenMMLab's hash-stamped copy of the official ImageNet-1k file, fetched
# and verified on first use (README, "Pretrained weights and checkpoints").
_base_ = './fpn_poolformer_s12_40k_ade20k.py'

model = dict(
    backbone=dict(
        arch='poolformer_s24',
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmclassification/v0/poolformer/poolformer-s24_3rdparty_32xb128_in1k_20220414-d7055904.pth')))  # noqa: E501
