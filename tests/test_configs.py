"""Every config under configs/ loads, builds and carries the published recipe.

Models are built on CPU with ``model.backbone.init_cfg=None`` (no ImageNet file needed) and
never run on real-sized inputs; parameter counts are compared with the papers' numbers
(the PoolFormer paper's detection and segmentation tables) and recipe values with
the paper's training settings.
"""
import functools
import inspect
from pathlib import Path

import pytest
import torch

mmdet = pytest.importorskip('mmdet')
mmseg = pytest.importorskip('mmseg')

from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import mmmeta  # noqa: E402,F401  (registers MetaFormer everywhere)
from mmmeta.analysis import build_model  # noqa: E402
from mmmeta.models import MetaFormer  # noqa: E402
from mmmeta.weights import WEIGHTS  # noqa: E402

from helpers import CONFIG_DIR, CONFIGS, ROOT, n_params  # noqa: E402

V1_SIZES = ('s12', 's24', 's36', 'm36', 'm48')
V2_ARCHS = ('poolformerv2_s12', 'convformer_s18', 'caformer_s18')
DIMS = {'s': [64, 128, 320, 512], 'm': [96, 192, 384, 768]}

# the PoolFormer paper's detection/segmentation tables (millions of parameters); tolerance 0.1M
REF_PARAMS = {
    'retinanet_poolformer_s12_1x_coco.py': 21.7,
    'retinanet_poolformer_s24_1x_coco.py': 31.1,
    'retinanet_poolformer_s36_1x_coco.py': 40.6,
    'mask_rcnn_poolformer_s12_1x_coco.py': 31.6,
    'mask_rcnn_poolformer_s24_1x_coco.py': 41.0,
    'mask_rcnn_poolformer_s36_1x_coco.py': 50.5,
    'fpn_poolformer_s12_40k_ade20k.py': 15.7,
    'fpn_poolformer_s24_40k_ade20k.py': 25.1,
    'fpn_poolformer_s36_40k_ade20k.py': 34.6,
    'fpn_poolformer_m36_40k_ade20k.py': 59.8,
    'fpn_poolformer_m48_40k_ade20k.py': 77.1,
}

# keys of the upstream ResNet backbones that must not reach MetaFormer via base configs
RESNET_KEYS = {'depth', 'num_stages', 'style', 'norm_eval', 'norm_cfg', 'dilations', 'strides',
               'contract_dilation', 'deep_stem', 'avg_down', 'stem_channels', 'base_channels',
               'dcn', 'stage_with_dcn', 'plugins', 'zero_init_residual', 'pretrained'}
BACKBONE_KEYS = {'type', 'arch', 'out_indices', 'drop_path_rate', 'frozen_stages', 'init_cfg',
                 'out_norm'}


# ------------------------------------------------------------------------------------ helpers
@functools.lru_cache(maxsize=None)
def load(name: str) -> Config:
    return Config.fromfile(str(CONFIG_DIR / name))


def build(name: str) -> torch.nn.Module:
    return build_model(load(name))  # without the backbone's pretrained file


NUM_PARAMS = {}


def num_params(name: str) -> int:
    """Parameter count of the built model (each model is built once per session)."""
    if name not in NUM_PARAMS:
        NUM_PARAMS[name] = n_params(build(name))
    return NUM_PARAMS[name]


def is_demo(name: str) -> bool:
    return name.startswith('demo/')


def kind(name: str) -> str:
    base = Path(name).name
    for prefix in ('retinanet', 'mask_rcnn', 'fpn', 'cls'):
        if base.startswith(prefix + '_'):
            return prefix
    raise AssertionError(f'{name}: unknown detector prefix')


def full_configs(prefix: str):
    return [n for n in CONFIGS if not is_demo(n) and kind(n) == prefix]


def transforms_of(pipeline):
    for t in pipeline:
        yield t
        if t['type'] == 'TestTimeAug':
            for group in t['transforms']:
                yield from transforms_of(group)


def by_type(pipeline, type_name):
    found = [t for t in transforms_of(pipeline) if t['type'] == type_name]
    assert found, f'no {type_name} in pipeline'
    return found


# ------------------------------------------------------------------------------------ inventory
@pytest.mark.unit
def test_inventory():
    expected = {f'{det}_poolformer_{s}_1x_coco.py' for det in ('retinanet', 'mask_rcnn')
                for s in V1_SIZES}
    expected |= {f'fpn_poolformer_{s}_40k_ade20k.py' for s in V1_SIZES}
    expected |= {f'fpn_{a}_40k_ade20k.py' for a in V2_ARCHS}
    expected |= {'retinanet_poolformer_s12_amp_1x_coco.py'}
    expected |= {f'demo/{d}_poolformer_s12_demo.py'
                 for d in ('retinanet', 'mask_rcnn', 'fpn', 'cls')}
    assert expected <= set(CONFIGS), sorted(expected - set(CONFIGS))


@pytest.mark.unit
def test_no_package_base_references():
    """`mmdet::`/`mmseg::` bases need pkg_resources lookups that break on new setuptools."""
    for path in CONFIG_DIR.rglob('*.py'):
        text = path.read_text()
        assert 'mmdet::' not in text and 'mmseg::' not in text, path


# ------------------------------------------------------------------------------------ all configs
MODEL_BASES = sorted(f'_base_/models/{p.name}'
                     for p in (CONFIG_DIR / '_base_' / 'models').glob('*.py'))


@pytest.mark.unit
@pytest.mark.parametrize('name', CONFIGS + MODEL_BASES)
def test_backbone_weights_are_the_published_url(name):
    """A backbone that starts from ImageNet weights names the URL of mmmeta/weights.py for its
    arch (fetched on first use); demos keep their shipped file; ImageNet training starts from
    random weights."""
    bb = load(name).model.backbone
    init_cfg = bb.get('init_cfg')
    if name in PRETRAINED_DEMOS:
        assert init_cfg == dict(type='Pretrained', checkpoint=DEMO_BACKBONE)
    elif kind(name) == 'cls':
        assert init_cfg is None
    else:
        assert init_cfg == dict(type='Pretrained', checkpoint=WEIGHTS[bb.arch].url)


@pytest.mark.slow
@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds(name):
    cfg = load(name)
    assert 'mmmeta' in cfg.custom_imports['imports']
    assert cfg.custom_imports['allow_failed_imports'] is False
    bb = cfg.model.backbone
    assert bb.type == 'MetaFormer'
    # nothing from the upstream ResNet bases leaked in (no `_delete_` forgotten)
    assert not RESNET_KEYS & set(bb), sorted(RESNET_KEYS & set(bb))
    accepted = set(inspect.signature(MetaFormer.__init__).parameters) | {'type'}
    assert set(bb) <= accepted, sorted(set(bb) - accepted)
    dense = kind(name) != 'cls'
    if dense:  # the dense-prediction recipe: fine-tune everything, no stochastic depth
        assert set(bb) <= BACKBONE_KEYS, sorted(set(bb) - BACKBONE_KEYS)
        assert bb.drop_path_rate == 0.0 and bb.frozen_stages == -1

    model = build(name)
    backbone = model.backbone
    assert isinstance(backbone, MetaFormer)
    assert backbone.out_indices == tuple(bb.out_indices)
    if dense:  # the neck takes exactly the maps the backbone returns
        expected = [backbone.arch_settings['dims'][i] for i in backbone.out_indices]
        assert list(cfg.model.neck.in_channels) == expected
    assert all(p.requires_grad for p in model.parameters())  # nothing frozen
    # every returned map gets an output norm (v1 default, `out_norm=True` for v2) and no
    # other stage does (RetinaNet: no unused stride-4 norm to upset DDP)
    norms = {i for i in range(4) if hasattr(backbone, f'norm{i}')}
    assert norms == set(backbone.out_indices)
    NUM_PARAMS[name] = n_params(model)
    print(f'{name}: {NUM_PARAMS[name] / 1e6:.3f}M parameters')


@pytest.mark.unit
@pytest.mark.parametrize('name', CONFIGS)
def test_pipelines_and_metrics_registered(name):
    """Every transform, dataset and metric type of the config exists in its library."""
    cfg = load(name)
    init_default_scope(cfg.default_scope)
    if cfg.default_scope == 'mmdet':
        from mmdet.registry import DATASETS, METRICS, TRANSFORMS
    elif cfg.default_scope == 'mmseg':
        from mmseg.registry import DATASETS, METRICS, TRANSFORMS
    else:
        from mmpretrain.registry import DATASETS, METRICS, TRANSFORMS
    loaders = [cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader]
    pipelines = [dl.dataset.pipeline for dl in loaders]
    if 'tta_pipeline' in cfg:
        pipelines.append(cfg.tta_pipeline)
    for pipeline in pipelines:
        for t in transforms_of(pipeline):
            TRANSFORMS.build(t)
    for dl in loaders:
        assert DATASETS.get(dl.dataset.type) is not None, dl.dataset.type
    for evs in (cfg.val_evaluator, cfg.test_evaluator):
        for ev in evs if isinstance(evs, (list, tuple)) else [evs]:
            assert METRICS.get(ev.type) is not None, ev.type


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(REF_PARAMS))
def test_param_count_matches_paper(name):
    got = num_params(name) / 1e6
    print(f'{name}: {got:.3f}M (paper {REF_PARAMS[name]}M)')
    assert abs(got - REF_PARAMS[name]) < 0.1, (name, got, REF_PARAMS[name])


# ------------------------------------------------------------------------------------ detection
def check_det_data(cfg, with_mask):
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
    train = cfg.train_dataloader.dataset
    assert train.type == 'CocoDataset' and train.data_root == 'data/coco/'
    resize = by_type(train.pipeline, 'Resize')[0]
    assert tuple(resize.scale) == (1333, 800) and resize.keep_ratio
    assert by_type(train.pipeline, 'RandomFlip')[0].prob == 0.5
    load_ann = by_type(train.pipeline, 'LoadAnnotations')[0]
    assert load_ann.with_bbox and load_ann.get('with_mask', False) == with_mask
    test_resize = by_type(cfg.val_dataloader.dataset.pipeline, 'Resize')[0]
    assert tuple(test_resize.scale) == (1333, 800) and test_resize.keep_ratio
    ev = cfg.val_evaluator
    assert ev.type == 'CocoMetric' and ev.format_only is False
    assert ev.ann_file == 'data/coco/annotations/instances_val2017.json'
    assert set([ev.metric] if isinstance(ev.metric, str) else ev.metric) == (
        {'bbox', 'segm'} if with_mask else {'bbox'})
    pre = cfg.model.data_preprocessor
    assert pre.mean == [123.675, 116.28, 103.53] and pre.std == [58.395, 57.12, 57.375]
    assert pre.bgr_to_rgb and pre.pad_size_divisor == 32


def check_det_schedule(cfg, lr, wrapper='OptimWrapper'):
    ow = cfg.optim_wrapper
    assert ow.type == wrapper and ow.get('clip_grad') is None
    assert ow.optimizer == dict(type='AdamW', lr=lr, weight_decay=1e-4)
    assert cfg.train_cfg == dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
    warmup, steps = cfg.param_scheduler
    assert warmup == dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500)
    assert steps.type == 'MultiStepLR' and steps.by_epoch and steps.end == 12
    assert steps.milestones == [8, 11] and steps.gamma == 0.1
    assert cfg.default_hooks.checkpoint.interval == 1
    assert cfg.default_scope == 'mmdet' and cfg.resume is False and cfg.load_from is None


@pytest.mark.unit
@pytest.mark.parametrize('name', full_configs('retinanet'))
def test_retinanet_recipe(name):
    cfg = load(name)
    amp = '_amp_' in name
    check_det_data(cfg, with_mask=False)
    check_det_schedule(cfg, lr=1e-4, wrapper='AmpOptimWrapper' if amp else 'OptimWrapper')
    if amp:
        assert cfg.optim_wrapper.loss_scale == 'dynamic'
    size = name.split('_')[2]
    bb, neck = cfg.model.backbone, cfg.model.neck
    assert bb.arch == f'poolformer_{size}'
    assert bb.init_cfg == dict(type='Pretrained', checkpoint=WEIGHTS[bb.arch].url)
    assert tuple(bb.out_indices) == (1, 2, 3)  # the stride-4 map is not computed/normed
    assert list(neck.in_channels) == DIMS[size[0]][1:]
    assert neck.start_level == 0 and neck.add_extra_convs == 'on_input'
    assert neck.num_outs == 5 and neck.out_channels == 256
    assert cfg.model.bbox_head.num_classes == 80
    assert cfg.model.bbox_head.anchor_generator.strides == [8, 16, 32, 64, 128]


@pytest.mark.unit
@pytest.mark.parametrize('name', full_configs('mask_rcnn'))
def test_mask_rcnn_recipe(name):
    cfg = load(name)
    check_det_data(cfg, with_mask=True)
    check_det_schedule(cfg, lr=2e-4)
    size = name.split('_')[3]
    bb, neck = cfg.model.backbone, cfg.model.neck
    assert bb.arch == f'poolformer_{size}'
    assert bb.init_cfg == dict(type='Pretrained', checkpoint=WEIGHTS[bb.arch].url)
    assert tuple(bb.out_indices) == (0, 1, 2, 3)
    assert list(neck.in_channels) == DIMS[size[0]]
    assert neck.num_outs == 5 and neck.out_channels == 256
    assert cfg.model.roi_head.bbox_head.num_classes == 80
    assert cfg.model.roi_head.mask_head.num_classes == 80
    assert cfg.model.data_preprocessor.pad_mask


# ------------------------------------------------------------------------------------ segmentation
@pytest.mark.unit
@pytest.mark.parametrize('name', full_configs('fpn'))
def test_semantic_fpn_recipe(name):
    cfg = load(name)
    assert cfg.default_scope == 'mmseg' and cfg.tta_model == dict(type='SegTTAModel')
    # optimisation
    ow = cfg.optim_wrapper
    assert ow.type == 'OptimWrapper' and ow.get('clip_grad') is None
    assert ow.optimizer == dict(type='AdamW', lr=2e-4, weight_decay=1e-4)
    assert len(cfg.param_scheduler) == 1  # no warm-up
    poly = cfg.param_scheduler[0]
    assert poly.type == 'PolyLR' and poly.power == 0.9 and poly.eta_min == 0.0
    assert poly.begin == 0 and poly.end == 40000 and poly.by_epoch is False
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=4000)
    ckpt = cfg.default_hooks.checkpoint
    assert ckpt.by_epoch is False and ckpt.interval == 4000
    # data
    assert cfg.train_dataloader.batch_size == 4  # x 8 GPUs = 32
    assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'
    train = cfg.train_dataloader.dataset
    assert train.type == 'ADE20KDataset' and train.reduce_zero_label
    assert train.data_root == 'data/ade/ADEChallengeData2016'
    rr = by_type(train.pipeline, 'RandomResize')[0]
    assert tuple(rr.scale) == (2048, 512) and tuple(rr.ratio_range) == (0.5, 2.0)
    crop = by_type(train.pipeline, 'RandomCrop')[0]
    assert tuple(crop.crop_size) == (512, 512) and crop.cat_max_ratio == 0.75
    assert tuple(cfg.model.data_preprocessor.size) == (512, 512)
    assert by_type(train.pipeline, 'RandomFlip')[0].prob == 0.5
    by_type(train.pipeline, 'PhotoMetricDistortion')
    assert by_type(train.pipeline, 'LoadAnnotations')[0].reduce_zero_label
    test = [t['type'] for t in cfg.val_dataloader.dataset.pipeline]
    assert test.index('Resize') + 1 == test.index('ResizeToMultiple')
    resize = by_type(cfg.val_dataloader.dataset.pipeline, 'Resize')[0]
    assert tuple(resize.scale) == (2048, 512) and resize.keep_ratio
    assert by_type(cfg.val_dataloader.dataset.pipeline, 'ResizeToMultiple')[0].size_divisor == 32
    assert cfg.val_evaluator == dict(type='IoUMetric', iou_metrics=['mIoU'])
    tta = cfg.tta_pipeline
    assert len(by_type(tta, 'Resize')) == 6 and len(by_type(tta, 'RandomFlip')) == 2
    by_type(tta, 'ResizeToMultiple')
    # model
    arch = Path(name).stem[len('fpn_'):-len('_40k_ade20k')]
    bb, neck, head = cfg.model.backbone, cfg.model.neck, cfg.model.decode_head
    assert bb.arch == arch and tuple(bb.out_indices) == (0, 1, 2, 3)
    assert bb.init_cfg.checkpoint == WEIGHTS[arch].url
    if arch in V2_ARCHS:
        assert bb.out_norm is True
    else:
        assert 'out_norm' not in bb  # v1 default: on
        assert list(neck.in_channels) == DIMS[arch.split('_')[1][0]]
    assert neck.num_outs == 4 and neck.out_channels == 256
    assert head.type == 'FPNHead' and head.channels == 128 and head.dropout_ratio == 0.1
    assert head.num_classes == 150 and head.norm_cfg.type == 'SyncBN'


# ------------------------------------------------------------------------------------ demos
DEMOS = [n for n in CONFIGS if is_demo(n)]


DEMO_BACKBONE = 'checkpoints/demo/poolformer_s12_shapes.safetensors'
# demos that start from the shipped demo backbone; the classification demo that makes it
# trains from random init
PRETRAINED_DEMOS = tuple(f'demo/{d}_poolformer_s12_demo.py'
                         for d in ('retinanet', 'mask_rcnn', 'fpn'))


@pytest.mark.unit
@pytest.mark.parametrize('name', DEMOS)
def test_demo_config(name):
    cfg = load(name)
    if name in PRETRAINED_DEMOS:  # the demo's stand-in for the ImageNet file
        assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=DEMO_BACKBONE)
    else:
        assert cfg.model.backbone.get('init_cfg') is None  # trains offline, from scratch
    assert cfg.model.backbone.arch == 'poolformer_s12'
    assert cfg.train_dataloader.batch_size in ((64, ) if kind(name) == 'cls' else (2, 4))
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters <= 3000
    assert cfg.train_cfg.val_interval == cfg.train_cfg.max_iters  # one evaluation, at the end
    assert cfg.default_hooks.checkpoint.interval == cfg.train_cfg.max_iters
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    if kind(name) != 'cls':
        # a short schedule: a higher lr than the 12-epoch / 40k recipe it derives from
        assert cfg.optim_wrapper.optimizer.lr > load(base_of(name)).optim_wrapper.optimizer.lr
    for sched in cfg.param_scheduler:
        assert sched.get('end', 0) <= cfg.train_cfg.max_iters and sched.by_epoch is False
    if cfg.default_scope == 'mmpretrain':
        assert cfg.train_dataloader.dataset.data_root == 'data/demo_cls'
        assert cfg.model.head.num_classes == cfg.model.data_preprocessor.num_classes == 4
        assert tuple(cfg.train_dataloader.dataset.metainfo['classes']) == (
            'circle', 'square', 'triangle', 'star')
        assert cfg.model.train_cfg is None  # no Mixup/CutMix on one-shape images
    elif cfg.default_scope == 'mmdet':
        classes = ('circle', 'square', 'triangle', 'star')
        assert cfg.auto_scale_lr.enable is False
        for dl in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
            assert dl.dataset.data_root == 'data/demo_coco/'
            assert tuple(dl.dataset.metainfo['classes']) == classes
        assert cfg.train_dataloader.dataset.ann_file == 'annotations/instances_train.json'
        assert cfg.val_dataloader.dataset.ann_file == 'annotations/instances_val.json'
        assert cfg.val_evaluator.ann_file == 'data/demo_coco/annotations/instances_val.json'
        if kind(name) == 'retinanet':
            assert cfg.model.bbox_head.num_classes == 4
        else:
            assert cfg.model.roi_head.bbox_head.num_classes == 4
            assert cfg.model.roi_head.mask_head.num_classes == 4
    else:
        classes = ('background', 'circle', 'square', 'triangle', 'star')
        for dl in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
            assert dl.dataset.data_root == 'data/demo_ade'
            assert tuple(dl.dataset.metainfo['classes']) == classes
            assert dl.dataset.reduce_zero_label
        assert cfg.model.decode_head.num_classes == 5
        crop = by_type(cfg.train_dataloader.dataset.pipeline, 'RandomCrop')[0]
        assert tuple(crop.crop_size) == tuple(cfg.model.data_preprocessor.size) == (256, 256)


@pytest.mark.slow
def test_demo_backbone_file_loads_into_the_demo_models():
    """The shipped demo backbone (made by tools/demo.py --pretrain) is a complete PoolFormer-S12
    trunk in mmmeta's layout: it loads with nothing missing but the per-output norms that
    classification pretraining leaves untrained, and it is not a random init."""
    from mmmeta.checkpoint import load_pretrained, read_state_dict
    path = ROOT / DEMO_BACKBONE
    assert path.is_file(), f'{DEMO_BACKBONE} is missing: run python tools/demo.py --pretrain'
    state = read_state_dict(str(path))
    assert all(v.dtype == torch.float16 for v in state.values())
    model = MetaFormer('poolformer_s12', out_indices=(1, 2, 3))
    report = load_pretrained(model, str(path), logger='silent')
    assert 'untrained output norms' in report and 'not used' not in report, report
    trunk = {k for k in model.state_dict() if not k.startswith('norm')}
    assert trunk <= set(state), sorted(trunk - set(state))[:5]
    for k in trunk:
        assert torch.equal(model.state_dict()[k], state[k].float()), k
    scales = torch.cat([state[k].float().flatten() for k in state if 'layer_scale' in k])
    assert scales.abs().mean() > 1e-3  # trained: the init is 1e-5 everywhere
    for name in PRETRAINED_DEMOS:
        assert load(name).model.backbone.init_cfg.checkpoint == DEMO_BACKBONE


@pytest.mark.slow
@pytest.mark.parametrize('name', [n for n in DEMOS if n not in PRETRAINED_DEMOS])
def test_demo_layer_scales_get_their_lr(name):
    """From random init (the demo backbone's pretraining) the layer scales (1e-5 at init) get
    a larger lr. A key that matched no parameter would silently do nothing: check the built
    optimizer."""
    from mmengine.optim import build_optim_wrapper
    cfg = load(name)
    init_default_scope(cfg.default_scope)
    model = build(name)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    base = cfg.optim_wrapper.optimizer.lr
    mult = cfg.optim_wrapper.paramwise_cfg.custom_keys['.layer_scale']['lr_mult']
    assert mult > 1
    scales = {id(p) for n, p in model.named_parameters() if 'layer_scale' in n}
    assert len(scales) == 2 * sum(MetaFormer.arch_zoo['poolformer_s12']['depths'])
    lrs = {id(p): g['lr'] for g in wrapper.optimizer.param_groups for p in g['params']}
    assert sorted(lrs[i] for i in scales) == pytest.approx([base * mult] * len(scales))
    others = [lr for i, lr in lrs.items() if i not in scales]
    assert len(others) > len(scales) and others == pytest.approx([base] * len(others))


@pytest.mark.unit
def test_detection_demo_configs_match_the_generated_data():
    """The detection demos train and test at the size tools/make_demo_data.py writes."""
    from mmmeta.demo_data import DEMO_PRESETS
    h, w = DEMO_PRESETS['coco']['size']
    for name in DEMOS:
        cfg = load(name)
        if cfg.default_scope != 'mmdet':
            continue
        for pipeline in (cfg.train_dataloader.dataset.pipeline,
                         cfg.test_dataloader.dataset.pipeline):
            assert tuple(by_type(pipeline, 'Resize')[0].scale) == (w, h), name


@pytest.mark.unit
def test_mask_rcnn_demo_is_cut_to_cpu_size():
    """The Mask R-CNN demo trains on 2 CPU cores in minutes because the RoI heads see few RoIs
    (their cost is per RoI, not per pixel): few RPN proposals, a small RoI sample, a 14x14 mask
    head; the layers themselves are those of the real recipe, so its weights have the same
    shapes."""
    name = 'demo/mask_rcnn_poolformer_s12_demo.py'
    cfg, base = load(name), load(base_of(name))
    train, test = cfg.model.train_cfg, cfg.model.test_cfg
    # proposals and sampled RoIs: a fraction of the COCO recipe's 2000/1000 and 512
    assert train.rpn_proposal.max_per_img <= 200 < base.model.train_cfg.rpn_proposal.max_per_img
    assert train.rpn_proposal.nms_pre <= 200
    assert train.rcnn.sampler.num <= 128 < base.model.train_cfg.rcnn.sampler.num
    assert train.rcnn.sampler.pos_fraction == base.model.train_cfg.rcnn.sampler.pos_fraction
    assert test.rpn.max_per_img <= 200 and test.rpn.nms_pre <= 200
    assert test.rcnn.max_per_img >= 10  # the images hold at most 3 shapes
    # the mask head upsamples its RoI features 2x: target size and RoI size must agree
    roi = cfg.model.roi_head
    assert train.rcnn.mask_size == 2 * roi.mask_roi_extractor.roi_layer.output_size == 14
    # same layers as the real recipe (only what it samples and at which size differs)
    for part in ('bbox_head', 'mask_head'):
        ours, theirs = dict(roi[part]), dict(base.model.roi_head[part])
        ours.pop('num_classes'), theirs.pop('num_classes')
        assert ours == theirs, part
    assert cfg.model.rpn_head == base.model.rpn_head and cfg.model.neck == base.model.neck
    # RoIAlign samples a fixed 2x2 points per bin (mmcv's CPU kernel is the largest single cost)
    for extractor in ('bbox_roi_extractor', 'mask_roi_extractor'):
        assert roi[extractor].roi_layer.sampling_ratio == 2, extractor
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.param_scheduler[0].end < cfg.train_cfg.max_iters // 4  # warm-up


def base_of(name: str) -> str:
    return {'retinanet': 'retinanet_poolformer_s12_1x_coco.py',
            'mask_rcnn': 'mask_rcnn_poolformer_s12_1x_coco.py',
            'fpn': 'fpn_poolformer_s12_40k_ade20k.py'}[kind(name)]


@pytest.mark.slow
@pytest.mark.parametrize('name', DEMOS)
def test_demo_model_runs(name):
    """A tiny tensor-mode forward of each (S12) demo model: the wiring is right end to end."""
    model = build(name).eval()
    h, w = 96, 128
    x = torch.rand(1, 3, h, w)
    samples = None
    if load(name).default_scope == 'mmdet':  # two-stage detectors need image metadata
        from mmdet.structures import DetDataSample
        samples = [DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                               pad_shape=(h, w), scale_factor=(1.0, 1.0)))]
    with torch.no_grad():
        out = model(x, samples, mode='tensor')
    tensors = list(_flatten([out]))
    assert tensors and all(torch.isfinite(t).all() for t in tensors)


def _flatten(xs):
    for x in xs:
        if isinstance(x, (tuple, list)):
            yield from _flatten(x)
        elif isinstance(x, torch.Tensor):
            yield x


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    """Small demo datasets written by the project's own generator (the README's data)."""
    demo_data = pytest.importorskip('mmmeta.demo_data')
    root = tmp_path_factory.mktemp('demo_data')
    demo_data.make_coco_demo(root / 'demo_coco', num_train=4, num_val=2, size=(96, 128))
    demo_data.make_ade_demo(root / 'demo_ade', num_train=4, num_val=2, size=(96, 128))
    demo_data.make_cls_demo(root / 'demo_cls', num_train=4, num_val=2, size=(64, 64))
    return root


@pytest.mark.slow
@pytest.mark.parametrize('name', DEMOS)
def test_demo_config_reads_demo_data(name, demo_root):
    """The demo configs and tools/make_demo_data.py agree on layout, classes and labels:
    both splits load through the config's pipelines and give a finite training loss."""
    from mmengine.dataset import pseudo_collate
    cfg = load(name)
    init_default_scope(cfg.default_scope)
    if cfg.default_scope == 'mmdet':
        from mmdet.registry import DATASETS
        sub = 'demo_coco/'
    elif cfg.default_scope == 'mmpretrain':
        from mmpretrain.registry import DATASETS
        sub = 'demo_cls'
    else:
        from mmseg.registry import DATASETS
        sub = 'demo_ade'
    samples = {}
    for split, dl in (('train', cfg.train_dataloader), ('val', cfg.val_dataloader)):
        ds_cfg = dl.dataset.copy()
        assert ds_cfg.data_root == 'data/' + sub
        ds_cfg.data_root = str(demo_root / sub)
        dataset = DATASETS.build(ds_cfg)
        assert len(dataset) == (4 if split == 'train' else 2)
        assert tuple(dataset.metainfo['classes']) == tuple(dl.dataset.metainfo['classes'])
        samples[split] = [dataset[i] for i in range(len(dataset))]
    num_classes = len(cfg.train_dataloader.dataset.metainfo['classes'])
    for item in samples['train'] + samples['val']:
        ds = item['data_samples']
        if cfg.default_scope == 'mmdet':
            labels = ds.gt_instances.labels
            assert ((labels >= 0) & (labels < num_classes)).all()
        elif cfg.default_scope == 'mmpretrain':
            assert 0 <= int(ds.gt_label) < num_classes
        else:
            values = set(ds.gt_sem_seg.data.unique().tolist())
            assert values <= set(range(num_classes)) | {255}, values
    if cfg.default_scope == 'mmdet':
        assert sum(len(s['data_samples'].gt_instances) for s in samples['train']) > 0
    model = build(name).train()
    batch = model.data_preprocessor(pseudo_collate(samples['train'][:2]), True)
    with torch.no_grad():
        losses = model(**batch, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)


@pytest.mark.unit
def test_demo_tool_finds_the_backbone_the_config_names():
    """tools/demo.py pretrains the demo backbone when the file the config names is missing:
    it reads that path from the config itself (one place for it)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('demo_tool', ROOT / 'tools' / 'demo.py')
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    for name in PRETRAINED_DEMOS:
        assert demo.demo_backbone(f'configs/{name}') == DEMO_BACKBONE
    assert demo.demo_backbone('configs/demo/cls_poolformer_s12_demo.py') == ''
    assert load(demo.CLS_CONFIG.replace('configs/', '')).default_scope == 'mmpretrain'
