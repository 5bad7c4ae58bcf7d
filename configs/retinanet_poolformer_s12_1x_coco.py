# RetinaNet + PoolFormer-S12, 1x COCO (reference: 36.2 box AP, 21.7M params): the paper's recipe,
# all in the bases (AdamW lr 1e-4, batch 16 = 8 GPUs x 2; `--auto-scale-lr` for other batches).
_base_ = [
    '_base_/models/retinanet_fpn.py', '_base_/datasets/coco_detection.py',
    '_base_/schedules/schedule_1x_adamw.py', '_base_/default_runtime_det.py'
]
