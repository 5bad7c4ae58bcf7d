# PoolFormer-M48 on ImageNet-1k (reference: 82.5 top-1, 73.47M params, 11.6G MACs): the M36
# config with the M48 arch and stochastic depth 0.4.
_base_ = './cls_poolformer_m36_300e_in1k.py'

model = dict(backbone=dict(arch='poolformer_m48', drop_path_rate=0.4))
