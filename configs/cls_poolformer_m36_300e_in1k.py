# PoolFormer-M36 on ImageNet-1k (reference: 82.1 top-1, 56.17M params, 8.8G MACs): the S12
# config with the M36 arch, stochastic depth 0.3, head width 768 and test crop_pct 0.95.
_base_ = './cls_poolformer_s12_300e_in1k.py'

model = dict(
    backbone=dict(arch='poolformer_m36', drop_path_rate=0.3),
    head=dict(in_channels=768))

# test resolution: short side int(224 / crop_pct) = 235, center crop 224
crop_pct = 0.95
test_pipeline = [
    step if step['type'] != 'ResizeEdge' else dict(step, scale=int(224 / crop_pct))
    for step in _base_.test_pipeline
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
