# RetinaNet + PoolFormer-S12, 1x schedule on COCO, with automatic mixed precision (GPU only).
# Same recipe as retinanet_poolformer_s12_1x_coco.py, trained with torch.autocast and a
# dynamic loss scale. The authors trained in fp32, and plain fp16 gave NaN losses with
# PoolFormer-S12/S24 (sail-sg/poolformer#22); the dynamic loss scale skips overflowing steps,
# but compare against the fp32 config before trusting the numbers.
_base_ = './retinanet_poolformer_s12_1x_coco.py'

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=0.0001, weight_decay=0.0001))
