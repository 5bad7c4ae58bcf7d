# PoolFormer-M48 on ImageNet-1k, 300 epochs at 224x224 (reference: 82.5 top-1,
# 73.47M params, 11.6G MACs). Same recipe as cls_poolformer_s12_300e_in1k.py; only the arch,
# stochastic depth (0.4) and the head width differ and the test crop_pct (0.95).
_base_ = './cls_poolformer_s12_300e_in1k.py'

model = dict(
    backbone=dict(arch='poolformer_m48', drop_path_rate=0.4),
    head=dict(in_channels=768))

# test resolution: short side int(224 / crop_pct), center crop 224
crop_pct = 0.95
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=int(224 / crop_pct),  # 235
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
