# Mask R-CNN + PoolFormer-S12, 1x COCO (reference: 37.3 box AP, 34.6 mask AP, 31.6M params): the
# paper's recipe (AdamW lr 2e-4, batch 16 = 8 GPUs x 2; `--auto-scale-lr` for other batches).
_base_ = [
    '_base_/models/mask_rcnn_fpn.py', '_base_/datasets/coco_instance.py',
    '_base_/schedules/schedule_1x_adamw.py', '_base_/default_runtime_det.py'
]

optim_wrapper = dict(optimizer=dict(lr=0.0002))
