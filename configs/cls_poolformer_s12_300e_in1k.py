# PoolFormer-S12 on ImageNet-1k, 300 epochs at 224x224 (reference: 77.2 top-1, 11.92M params,
# 1.8G MACs): the paper's recipe (the bases; Mixup/CutMix/smoothing here), test crop_pct 0.9.
# The v1 backbone's `norm3` on the returned stage is the official classifier's final norm.
_base_ = [
    '_base_/datasets/imagenet_bs128_poolformer.py',
    '_base_/schedules/imagenet_300e_adamw.py', '_base_/default_runtime_cls.py'
]

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=1000,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='MetaFormer',
        arch='poolformer_s12',
        out_indices=(3, ),  # the stride-32 map only, normed by norm3
        drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=None),
    # timm's init of the classifier (trunc normal, std 0.02, zero bias); the backbone
    # initialises itself the same way when it is built
    init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))
