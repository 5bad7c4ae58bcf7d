# RetinaNet with a MetaFormer (PoolFormer) backbone and FPN (adapted from mmdet 3.3.0
# configs/_base_/models/retinanet_r50_fpn.py).
#
# Pretrained backbone: the official ImageNet-1k checkpoints of sail-sg/poolformer, as
# OpenMMLab's hash-stamped copies (the URL of each arch is in mmmeta/weights.py), downloaded
# into the weights cache and verified on first use (README, "Pretrained weights and
# checkpoints"; MMMETA_WEIGHTS_MIRROR for machines without internet). mmmeta converts them
# on load and reports what it loaded. The per-output norms are not in the ImageNet files and
# start from their default init; the file's final classifier norm (`norm.*`) is not loaded
# into the last one, as in the authors' detection code. Set `model.backbone.init_cfg=None`
# to train from scratch.
#
# RetinaNet starts at stride 8, so the backbone only returns stages 1-3 (strides 8/16/32):
# the stride-4 map is neither normalised nor handed to the neck, so no parameter is unused
# under DDP. P6/P7 come from extra convs on the last backbone map ('on_input').
custom_imports = dict(imports=['mmmeta'], allow_failed_imports=False)

model = dict(
    type='RetinaNet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='MetaFormer',
        arch='poolformer_s12',
        out_indices=(1, 2, 3),
        drop_path_rate=0.0,
        frozen_stages=-1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/poolformer/poolformer-s12_3rdparty_32xb128_in1k_20220414-f8d83051.pth')),  # noqa: E501
    neck=dict(
        type='FPN',
        in_channels=[128, 320, 512],
        out_channels=256,
        start_level=0,
        add_extra_convs='on_input',
        num_outs=5),
    bbox_head=dict(
        type='RetinaHead',
        num_classes=80,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        anchor_generator=dict(
            type='AnchorGenerator',
            octave_base_scale=4,
            scales_per_octave=3,
            ratios=[0.5, 1.0, 2.0],
            strides=[8, 16, 32, 64, 128]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[.0, .0, .0, .0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    # model training and testing settings
    train_cfg=dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.4,
            min_pos_iou=0,
            ignore_iof_thr=-1),
        sampler=dict(
            type='PseudoSampler'),  # Focal loss should use PseudoSampler
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=100))
