# PoolFormer-S24 on ImageNet-1k (reference: 80.3 top-1, 21.39M params, 3.4G MACs): the S12
# config with the S24 arch.
_base_ = './cls_poolformer_s12_300e_in1k.py'

model = dict(backbone=dict(arch='poolformer_s24'))
