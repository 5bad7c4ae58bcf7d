# Semantic FPN + PoolFormer-S12, 40k iterations on ADE20K, 512x512 crops (reference: 37.2 mIoU,
# 15.7M params): the paper's recipe, all in the bases (AdamW lr 2e-4, poly, batch 32 = 8 x 4).
_base_ = [
    '_base_/models/fpn_semantic.py', '_base_/datasets/ade20k.py',
    '_base_/schedules/schedule_40k_adamw_poly.py', '_base_/default_runtime_seg.py'
]
data_preprocessor = dict(size=_base_.crop_size)
model = dict(data_preprocessor=data_preprocessor)
