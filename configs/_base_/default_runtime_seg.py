# Runtime settings for mmseg (adapted from mmsegmentation 1.2.2 configs/_base_/default_runtime.py).
# The hooks live here, not in the schedule (mmengine forbids one key in two bases of a list):
# checkpoints every 4000 iterations, the evaluation interval of the 40k schedule.
default_scope = 'mmseg'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # crash-safe checkpoints (mmmeta.hooks): written to a temporary file, fsynced, renamed
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=4000),
    # stop at the first NaN/Inf loss or grad norm that damages the weights
    divergence=dict(type='DivergenceGuardHook'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)

log_level = 'INFO'
load_from = None
resume = False

# test-time augmentation (`tools/test.py --tta`); the pipeline is `tta_pipeline` of the
# dataset file
tta_model = dict(type='SegTTAModel')
