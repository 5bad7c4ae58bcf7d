"""Every named arch and every token mixer inside mmdet RetinaNet, mmseg EncoderDecoder and an
mmpretrain ImageClassifier, built from config dicts via the registries (custom_imports style),
forward and backward on CPU; equality with mmpretrain's own PoolFormer."""
import pytest
import torch
from mmengine.config import ConfigDict

import mmmeta
from mmmeta import ARCHS, MetaFormer
from mmmeta.checkpoint import load_pretrained

MIXERS = ['identity', 'pooling', 'random', 'dwconv', 'sepconv', 'attention', 'fourier',
          'spatial_mlp']
TINY = dict(depths=(1, 1, 1, 1), dims=(16, 32, 48, 64))


def backbone_cfg(**kw):
    return dict(type='MetaFormer', **kw)


def retinanet(bb, dims):
    return dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(bb, out_indices=(1, 2, 3)),
        neck=dict(type='FPN', in_channels=list(dims[1:]), out_channels=32, start_level=0,
                  add_extra_convs='on_input', num_outs=5),
        bbox_head=dict(
            type='RetinaHead', num_classes=3, in_channels=32, stacked_convs=1, feat_channels=32,
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                  scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                                  strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                            target_stds=[1.0, 1.0, 1.0, 1.0]),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                          loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                                     min_pos_iou=0, ignore_iof_thr=-1),
                       sampler=dict(type='PseudoSampler'), allowed_border=-1, pos_weight=-1,
                       debug=False),
        test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.05,
                      nms=dict(type='nms', iou_threshold=0.5), max_per_img=10))


def semantic_fpn(bb, dims):
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                               seg_pad_val=255, size=(64, 64)),
        backbone=bb,
        neck=dict(type='FPN', in_channels=list(dims), out_channels=32, num_outs=4),
        decode_head=dict(type='FPNHead', in_channels=[32] * 4, in_index=[0, 1, 2, 3],
                         feature_strides=[4, 8, 16, 32], channels=16, dropout_ratio=0.1,
                         num_classes=3, norm_cfg=dict(type='BN', requires_grad=True),
                         align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                          loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))


def classifier(bb, dims):
    return dict(type='ImageClassifier',
                data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=3,
                                       mean=[123.675, 116.28, 103.53],
                                       std=[58.395, 57.12, 57.375], to_rgb=True),
                backbone=dict(bb, out_indices=(3,)), neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=3, in_channels=dims[-1],
                          loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


def det_batch():
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    s = DetDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64), ori_shape=(64, 64),
                                    scale_factor=(1.0, 1.0), batch_input_shape=(64, 64)))
    s.gt_instances = InstanceData(bboxes=torch.tensor([[8., 8., 40., 48.]]),
                                  labels=torch.tensor([1]))
    return dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)],
                data_samples=[s])


def seg_batch():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    s = SegDataSample(metainfo=dict(img_shape=(64, 64), pad_shape=(64, 64),
                                    ori_shape=(64, 64)))
    s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 64, 64)))
    return dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)],
                data_samples=[s])


def cls_batch():
    from mmpretrain.structures import DataSample
    return dict(inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)],
                data_samples=[DataSample().set_gt_label(1)])


LIBS = {'mmdet': (retinanet, det_batch), 'mmseg': (semantic_fpn, seg_batch),
        'mmpretrain': (classifier, cls_batch)}


def train_step(lib, bb, dims):
    __import__(f'{lib}.utils', fromlist=['register_all_modules']).register_all_modules(True)
    registry = __import__(f'{lib}.registry', fromlist=['MODELS']).MODELS
    build, batch = LIBS[lib]
    torch.manual_seed(0)
    model = registry.build(ConfigDict(build(bb, dims)))
    model.train()
    data = model.data_preprocessor(batch(), True)
    losses = model(**data, mode='loss')
    total = sum(v.sum() for k, v in losses.items() if 'loss' in k and torch.is_tensor(v)) + sum(
        sum(x.sum() for x in v) for k, v in losses.items() if 'loss' in k and isinstance(v, list))
    total.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert torch.isfinite(total) and any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.slow
@pytest.mark.parametrize('lib', list(LIBS))
@pytest.mark.parametrize('arch', sorted(ARCHS))
def test_every_arch_in_every_library(arch, lib):
    # the published shapes at full width, one block per stage to keep CPU time sane
    dims = ARCHS[arch]['dims']
    train_step(lib, backbone_cfg(arch=arch, depths=(1, 1, 1, 1)), dims)


@pytest.mark.slow
@pytest.mark.parametrize('lib', list(LIBS))
@pytest.mark.parametrize('mixer', MIXERS)
def test_every_mixer_in_every_library(mixer, lib):
    train_step(lib, backbone_cfg(arch='poolformer_s12', token_mixers=mixer, **TINY), TINY['dims'])


@pytest.mark.unit
def test_registered_everywhere_without_clash():
    from mmdet.registry import MODELS as DET
    from mmpretrain.registry import MODELS as CLS
    from mmseg.registry import MODELS as SEG
    for reg in (DET, SEG, CLS):
        assert reg.get('MetaFormer') is MetaFormer
    assert CLS.get('PoolFormer').__module__.startswith('mmpretrain')  # theirs is untouched
    assert mmmeta.MODELS.get('mmmeta.MetaFormer') is MetaFormer


@pytest.mark.unit
def test_custom_imports_in_a_config(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text("custom_imports = dict(imports=['mmmeta'], allow_failed_imports=False)\n"
                        "model = dict(type='MetaFormer', arch='poolformer_s12')\n")
    from mmdet.registry import MODELS
    from mmengine.config import Config
    cfg = Config.fromfile(str(cfg_file))
    assert isinstance(MODELS.build(cfg.model), MetaFormer)


@pytest.mark.slow
@pytest.mark.parametrize('arch', ['poolformer_s12', 'poolformer_s24', 'poolformer_s36',
                                  'poolformer_m36', 'poolformer_m48'])
def test_equal_to_mmpretrain(arch, tmp_path):
    """mmpretrain's PoolFormer (official v1 names, norm0/2/4/6) -> our converter -> same maps."""
    from mmpretrain.models.backbones import PoolFormer
    torch.manual_seed(0)
    ref = PoolFormer(arch=arch.split('_')[1], out_indices=(0, 2, 4, 6))
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn_like(p) * 0.05 + (1.0 if p.dim() == 1 else 0.0))
    path = tmp_path / 'mmpretrain.pth'
    torch.save({'state_dict': {'backbone.' + k: v for k, v in ref.state_dict().items()}}, path)
    ours = MetaFormer(arch)
    report = load_pretrained(ours, str(path), logger='silent')
    assert 'untrained' not in report
    ref.eval()
    ours.eval()
    x = torch.randn(2, 3, 97, 143)
    with torch.no_grad():
        for a, b in zip(ref(x), ours(x)):
            assert a.shape == b.shape
            assert (a - b).abs().max() <= 1e-5 * max(1.0, a.abs().max().item())
