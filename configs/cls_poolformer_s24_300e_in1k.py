# PoolFormer-S24 on ImageNet-1k, 300 epochs at 224x224 (reference: 80.3 top-1,
# 21.39M params, 3.4G MACs). Same recipe as cls_poolformer_s12_300e_in1k.py; only the arch,
# stochastic depth (0.1) and the head width differ.
_base_ = './cls_poolformer_s12_300e_in1k.py'

model = dict(
    backbone=dict(arch='poolformer_s24', drop_path_rate=0.1),
    head=dict(in_channels=512))
