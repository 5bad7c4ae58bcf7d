# Semantic FPN with a MetaFormer (PoolFormer) backbone (adapted from mmsegmentation 1.2.2
# configs/_base_/models/fpn_r50.py).
#
# Pretrained backbone: the official ImageNet-1k checkpoints (v1: OpenMMLab's hash-stamped
# copies of sail-sg/poolformer's; v2: sail-sg/metaformer's), by URL from mmmeta/weights.py,
# downloaded into the weights cache and verified on first use (README, "Pretrained weights
# and checkpoints"; MMMETA_WEIGHTS_MIRROR for machines without internet).
# The per-output norms are not in the ImageNet files and start from their default init; the
# v1 file's final classifier norm (`norm.*`) is not loaded into the last one, as in the
# authors' segmentation code (the load report says so).
# Set `model.backbone.init_cfg=None` to train from scratch.
#
# The neck and head keep mmseg's SyncBN: mmengine turns it into plain BN when training is
# not distributed.
custom_imports = dict(imports=['mmmeta'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='MetaFormer',
        arch='poolformer_s12',
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.0,
        frozen_stages=-1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/poolformer/poolformer-s12_3rdparty_32xb128_in1k_20220414-f8d83051.pth')),  # noqa: E501
    neck=dict(
        type='FPN',
        in_channels=[64, 128, 320, 512],
        out_channels=256,
        num_outs=4),
    decode_head=dict(
        type='FPNHead',
        in_channels=[256, 256, 256, 256],
        in_index=[0, 1, 2, 3],
        feature_strides=[4, 8, 16, 32],
        channels=128,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    # model training and testing settings
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
