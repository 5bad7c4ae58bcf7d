# RetinaNet + PoolFormer-S12, 1x COCO with automatic mixed precision (GPU only, dynamic loss
# scale; the authors trained in fp32, plain fp16 gave NaNs, sail-sg/poolformer#22).
_base_ = './retinanet_poolformer_s12_1x_coco.py'

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=0.0001, weight_decay=0.0001))
