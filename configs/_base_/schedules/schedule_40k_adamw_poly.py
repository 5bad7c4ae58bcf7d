# 40k-iteration schedule with AdamW and poly decay, the PoolFormer Semantic FPN recipe
# (adapted from mmsegmentation 1.2.2 configs/_base_/schedules/schedule_40k.py), for a total
# batch of 32 (8 GPUs x 4 images). No warm-up; fp32 (the authors trained without fp16, and
# native fp16 has given NaN losses with PoolFormer).
# Checkpoints are saved every 4000 iterations by the CheckpointHook of
# ../default_runtime_seg.py (mmengine forbids defining `default_hooks` in two base files).
# optimizer
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0002, weight_decay=0.0001),
    clip_grad=None)
# learning policy
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=40000,
        by_epoch=False)
]
# training schedule for 40k
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=4000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
