# PoolFormer-S36 on ImageNet-1k (reference: 81.4 top-1, 30.86M params, 5.0G MACs): the S12
# config with the S36 arch and stochastic depth 0.2.
_base_ = './cls_poolformer_s12_300e_in1k.py'

model = dict(backbone=dict(arch='poolformer_s36', drop_path_rate=0.2))
