# Semantic FPN + CAFormer-S18 on ADE20K: the PoolFormer S12 recipe, untuned (none published);
# out_norm=True adds the output norms v2 lacks. Weights: sail-sg/metaformer's ImageNet-1k file.
_base_ = './fpn_poolformer_s12_40k_ade20k.py'

model = dict(
    backbone=dict(
        arch='caformer_s18',
        out_norm=True,
        init_cfg=dict(checkpoint='https://huggingface.co/sail/dl/resolve/main/caformer/caformer_s18.pth')))  # noqa: E501
