# Runtime settings for mmpretrain (adapted from mmpretrain 1.2.0
# configs/_base_/default_runtime.py). As in the mmdet/mmseg runtime files of this project, the
# hooks live here and not in the schedule file; `custom_imports` registers MetaFormer.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmmeta'], allow_failed_imports=False)

default_hooks = dict(
    # record the time of every iteration.
    timer=dict(type='IterTimerHook'),
    # print log every 100 iterations.
    logger=dict(type='LoggerHook', interval=100),
    # enable the parameter scheduler.
    param_scheduler=dict(type='ParamSchedulerHook'),
    # save a checkpoint every epoch, keep the last 3 and the best top-1.
    # crash-safe (mmmeta.hooks): written to a temporary file, fsynced, renamed into place.
    checkpoint=dict(
        type='SafeCheckpointHook', interval=1, max_keep_ckpts=3, save_best='auto'),
    # stop at the first NaN/Inf loss or grad norm that damages the weights (mmmeta.hooks).
    divergence=dict(type='DivergenceGuardHook'),
    # set sampler seed in distributed environment.
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # validation results visualization, set True to enable it.
    visualization=dict(type='VisualizationHook', enable=False),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False

# random seed not fixed, `deterministic` off
randomness = dict(seed=None, deterministic=False)
