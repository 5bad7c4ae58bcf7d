# PoolFormer-S12 pretrained on the synthetic shapes classification data: the demos' stand-in
# for ImageNet (`python tools/demo.py --pretrain`); flip only, lr 1e-3, batch 64, 3000 iterations.
_base_ = ['../cls_poolformer_s12_300e_in1k.py', '../_base_/datasets/demo_shapes.py']

data_root = 'data/demo_cls'
metainfo = dict(_delete_=True, classes=_base_.metainfo['classes'])  # no palette
max_iters = 3000
warmup_iters = 500

model = dict(
    data_preprocessor=dict(num_classes=4),
    backbone=dict(drop_path_rate=0.0),
    head=dict(num_classes=4),
    train_cfg=None)  # no Mixup / CutMix

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='train',
        metainfo=dict(classes=metainfo['classes']),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='val',
        metainfo=dict(classes=metainfo['classes']),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

# schedule: max_iters iterations of batch 64, evaluated once at the end
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
# x20 for the layer scales: they start at 1e-5, which keeps every block nearly closed (the
# network nearly linear) for most of a short schedule otherwise
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(custom_keys={'.layer_scale': dict(lr_mult=20.0, decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters - warmup_iters,
        eta_min=1e-5,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters)
]
auto_scale_lr = dict(enable=False, base_batch_size=64)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        _delete_=True, type='SafeCheckpointHook', by_epoch=False, interval=max_iters,
        max_keep_ckpts=1))
log_processor = dict(by_epoch=False, window_size=10)
randomness = dict(seed=0)
