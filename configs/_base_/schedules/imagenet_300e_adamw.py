# 300-epoch AdamW schedule of the PoolFormer paper (the timm recipe of sail-sg/poolformer):
# lr 4e-3 for a total batch of 4096 (32 GPUs x 128 images; `auto_scale_lr` rescales it
# linearly when run with `--auto-scale-lr` on another total batch), weight decay 0.05 except
# on norms, biases, layer scales and residual scales (timm skips every 1-D parameter), no
# gradient clipping; 5 epochs of linear warm-up (per iteration), then cosine decay to 1e-5.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=4e-3, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.layer_scale': dict(decay_mult=0.0),
            '.res_scale': dict(decay_mult=0.0),
        }),
    clip_grad=None,
)

warmup_epochs = 5
max_epochs = 300
param_scheduler = [
    # linear warm-up, updated every iteration
    dict(
        type='LinearLR',
        start_factor=1e-6,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    # cosine decay over the remaining epochs
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=1e-5,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# base_batch_size = (32 GPUs) x (128 samples per GPU)
auto_scale_lr = dict(enable=False, base_batch_size=4096)
