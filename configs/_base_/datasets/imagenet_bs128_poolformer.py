# ImageNet-1k for the PoolFormer classification recipe (adapted from mmpretrain 1.2.0
# configs/_base_/datasets/imagenet_bs64_swin_224.py, the timm/DeiT pipeline the authors used):
# RandomResizedCrop 224 (bicubic), horizontal flip, RandAugment rand-m9-mstd0.5-inc1,
# RandomErasing 0.25; Mixup 0.8 / CutMix 1.0 and label smoothing 0.1 live in the model configs.
# 128 images per GPU (x 32 GPUs = 4096, the batch of schedules/imagenet_300e_adamw.py).
# Test: short side resized to int(224 / crop_pct) (bicubic), then a 224 center crop. This file
# uses crop_pct 0.9 (S models, scale 248); each model config sets its own `crop_pct` and
# rebuilds `test_pipeline` (M models: 0.95, scale 235).
# Layout: data/imagenet/{train,val}/ with the mmpretrain annotation lists meta/train.txt and
# meta/val.txt ("relative/path.JPEG label" per line).
dataset_type = 'ImageNet'
data_root = 'data/imagenet'
data_preprocessor = dict(
    num_classes=1000,
    # RGB format normalization parameters
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    # convert image from BGR to RGB
    to_rgb=True,
)

bgr_mean = data_preprocessor['mean'][::-1]
bgr_std = data_preprocessor['std'][::-1]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]

crop_pct = 0.9
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=int(224 / crop_pct),
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))

# the ImageNet validation set is the usual test set
test_dataloader = val_dataloader
test_evaluator = val_evaluator
