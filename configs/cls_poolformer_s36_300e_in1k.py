# PoolFormer-S36 on ImageNet-1k, 300 epochs at 224x224 (reference: 81.4 top-1,
# 30.86M params, 5.0G MACs). Same recipe as cls_poolformer_s12_300e_in1k.py; only the arch,
# stochastic depth (0.2) and the head width differ.
_base_ = './cls_poolformer_s12_300e_in1k.py'

model = dict(
    backbone=dict(arch='poolformer_s36', drop_path_rate=0.2),
    head=dict(in_channels=512))
