"""The ImageNet-1k classification configs (configs/cls_poolformer_*_300e_in1k.py).

Each config loads, builds an mmpretrain ``ImageClassifier`` with the published parameter count
(the PoolFormer paper / sail-sg/poolformer README), carries the PoolFormer recipe, and the
S12 classifier trains one step on CPU and takes the official v1 checkpoint layout (the key
names of sail-sg/poolformer ``poolformer_*.pth.tar``).
Models are never run on real-sized inputs.
"""
import functools
import re

import pytest
import torch

pytest.importorskip('mmpretrain')

from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpretrain.registry import DATASETS, METRICS, MODELS, TRANSFORMS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

import mmmeta  # noqa: E402,F401  (registers MetaFormer into mmpretrain's MODELS)

from helpers import CONFIG_DIR, n_params  # noqa: E402

# tiny CPU models run much faster on one thread than on two contended ones
pytestmark = pytest.mark.usefixtures('one_thread')
SIZES = ('s12', 's24', 's36', 'm36', 'm48')
# published ImageNet classifier parameter counts (sail-sg/poolformer README) (millions, 2 decimals)
REF_PARAMS = {'s12': 11.92, 's24': 21.39, 's36': 30.86, 'm36': 56.17, 'm48': 73.47}
DROP_PATH = {'s12': 0.1, 's24': 0.1, 's36': 0.2, 'm36': 0.3, 'm48': 0.4}
CROP_PCT = {'s12': 0.9, 's24': 0.9, 's36': 0.9, 'm36': 0.95, 'm48': 0.95}
DEPTHS = {'s12': (2, 2, 6, 2), 's24': (4, 4, 12, 4), 's36': (6, 6, 18, 6),
          'm36': (6, 6, 18, 6), 'm48': (8, 8, 24, 8)}
DIMS = {'s': (64, 128, 320, 512), 'm': (96, 192, 384, 768)}
PACKAGE_BASE = re.compile(r'\b(mmpretrain|mmcls|mmdet|mmseg)::')
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def name_of(size: str) -> str:
    return f'cls_poolformer_{size}_300e_in1k.py'


@functools.lru_cache(maxsize=None)
def load(size: str) -> Config:
    return Config.fromfile(str(CONFIG_DIR / name_of(size)))


def build(size: str, **overrides) -> torch.nn.Module:
    model_cfg = load(size).model.copy()
    model_cfg.update(overrides)
    init_default_scope('mmpretrain')
    return MODELS.build(model_cfg)


def by_type(pipeline, type_name):
    found = [t for t in pipeline if t['type'] == type_name]
    assert len(found) == 1, f'expected one {type_name} in {[t["type"] for t in pipeline]}'
    return found[0]


# ------------------------------------------------------------------------------------ configs
@pytest.mark.unit
def test_inventory():
    for size in SIZES:
        assert (CONFIG_DIR / name_of(size)).is_file(), name_of(size)
    bases = ('datasets/imagenet_bs128_poolformer.py', 'schedules/imagenet_300e_adamw.py',
             'default_runtime_cls.py')
    for base in bases:
        assert (CONFIG_DIR / '_base_' / base).is_file(), base
    for path in [CONFIG_DIR / '_base_' / b for b in bases] + [
            CONFIG_DIR / name_of(s) for s in SIZES]:
        # self-contained: package base references need fragile pkg_resources lookups
        assert not PACKAGE_BASE.search(path.read_text()), path


@pytest.mark.unit
@pytest.mark.parametrize('size', SIZES)
def test_model_config(size):
    cfg = load(size)
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.custom_imports == dict(imports=['mmmeta'], allow_failed_imports=False)
    assert cfg.visualizer.type == 'UniversalVisualizer'
    model = cfg.model
    assert model.type == 'ImageClassifier'
    assert model.backbone == dict(type='MetaFormer', arch=f'poolformer_{size}',
                                  out_indices=(3, ), drop_path_rate=DROP_PATH[size])
    assert model.neck == dict(type='GlobalAveragePooling')
    head = model.head
    assert head.type == 'LinearClsHead' and head.num_classes == 1000
    assert head.in_channels == DIMS[size[0]][-1]
    assert head.loss == dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')
    assert head.init_cfg is None
    assert model.train_cfg == dict(augments=[dict(type='Mixup', alpha=0.8),
                                             dict(type='CutMix', alpha=1.0)])
    pre = model.data_preprocessor
    assert pre == dict(num_classes=1000, mean=MEAN, std=STD, to_rgb=True)
    assert cfg.data_preprocessor == pre  # the Runner's default agrees with the model's


@pytest.mark.unit
@pytest.mark.parametrize('size', SIZES)
def test_data_recipe(size):
    cfg = load(size)
    train, val = cfg.train_dataloader, cfg.val_dataloader
    assert train.batch_size == 128 and val.batch_size == 128  # x 32 GPUs = 4096
    assert train.sampler == dict(type='DefaultSampler', shuffle=True)
    for dl, split in ((train, 'train'), (val, 'val'), (cfg.test_dataloader, 'val')):
        ds = dl.dataset
        assert ds.type == 'ImageNet' and ds.data_root == 'data/imagenet'
        assert ds.ann_file == f'meta/{split}.txt' and ds.data_prefix == split
        assert DATASETS.get(ds.type) is not None
    rrc = by_type(train.dataset.pipeline, 'RandomResizedCrop')
    assert rrc.scale == 224 and rrc.interpolation == 'bicubic'
    assert by_type(train.dataset.pipeline, 'RandomFlip').prob == 0.5
    ra = by_type(train.dataset.pipeline, 'RandAugment')  # rand-m9-mstd0.5-inc1
    assert ra.policies == 'timm_increasing' and ra.num_policies == 2
    assert ra.magnitude_level == 9 and ra.magnitude_std == 0.5 and ra.total_level == 10
    re_ = by_type(train.dataset.pipeline, 'RandomErasing')
    assert re_.erase_prob == 0.25 and re_.mode == 'rand'
    assert train.dataset.pipeline[-1]['type'] == 'PackInputs'
    # test: short side int(224 / crop_pct), bicubic, then a 224 center crop
    assert cfg.crop_pct == CROP_PCT[size]
    for dl in (val, cfg.test_dataloader):
        pipeline = dl.dataset.pipeline
        assert [t['type'] for t in pipeline] == [
            'LoadImageFromFile', 'ResizeEdge', 'CenterCrop', 'PackInputs']
        resize = by_type(pipeline, 'ResizeEdge')
        assert resize.scale == int(224 / CROP_PCT[size]) == (248 if size[0] == 's' else 235)
        assert resize.edge == 'short' and resize.interpolation == 'bicubic'
        assert by_type(pipeline, 'CenterCrop').crop_size == 224
    # every transform, dataset and metric exists in mmpretrain
    init_default_scope('mmpretrain')
    for dl in (train, val, cfg.test_dataloader):
        for t in dl.dataset.pipeline:
            TRANSFORMS.build(t)
    for ev in (cfg.val_evaluator, cfg.test_evaluator):
        assert ev == dict(type='Accuracy', topk=(1, 5)) and METRICS.get(ev.type) is not None


@pytest.mark.unit
@pytest.mark.parametrize('size', SIZES)
def test_schedule_recipe(size):
    cfg = load(size)
    ow = cfg.optim_wrapper
    assert ow.type == 'OptimWrapper' and ow.get('clip_grad') is None
    opt = ow.optimizer
    assert opt.type == 'AdamW' and opt.lr == 4e-3 and opt.weight_decay == 0.05
    assert cfg.auto_scale_lr.base_batch_size == 4096 == 32 * cfg.train_dataloader.batch_size
    assert not cfg.auto_scale_lr.get('enable', False)  # opt-in (tools/train.py --auto-scale-lr)
    pw = ow.paramwise_cfg
    assert pw.norm_decay_mult == 0.0 and pw.bias_decay_mult == 0.0
    assert pw.custom_keys == {'.layer_scale': dict(decay_mult=0.0),
                              '.res_scale': dict(decay_mult=0.0)}
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.start_factor == 1e-6
    assert warmup.by_epoch and warmup.begin == 0 and warmup.end == 5
    assert warmup.convert_to_iter_based
    assert cosine.type == 'CosineAnnealingLR' and cosine.eta_min == 1e-5 and cosine.by_epoch
    assert cosine.begin == 5 and cosine.end == 300
    assert cosine.get('T_max', cosine.end - cosine.begin) == 295
    assert cfg.train_cfg == dict(by_epoch=True, max_epochs=300, val_interval=1)


@pytest.mark.slow
def test_lr_curve():
    """Warm-up (per iteration) then cosine (per epoch): 4e-3 peak at epoch 5, 1e-5 at the end."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import PARAM_SCHEDULERS
    cfg = load('s12')
    init_default_scope('mmpretrain')
    ow = build_optim_wrapper(torch.nn.Linear(2, 2), cfg.optim_wrapper)
    epoch_length = 4
    scheds = [PARAM_SCHEDULERS.build(
        s, default_args=dict(optimizer=ow, epoch_length=epoch_length)) for s in cfg.param_scheduler]
    lrs = []  # lr used by each epoch's first iteration
    for _ in range(cfg.train_cfg.max_epochs):
        for it in range(epoch_length):
            if it == 0:
                lrs.append(ow.optimizer.param_groups[0]['lr'])
            for s in scheds:
                if not s.by_epoch:
                    s.step()
        for s in scheds:
            if s.by_epoch:
                s.step()
    assert lrs[0] == pytest.approx(4e-3 * 1e-6)
    assert all(a < b for a, b in zip(lrs[:5], lrs[1:6]))  # linear warm-up over 5 epochs
    assert lrs[5] == pytest.approx(4e-3)
    assert max(lrs) == pytest.approx(4e-3)
    assert all(a >= b for a, b in zip(lrs[5:], lrs[6:]))  # monotone cosine decay
    assert lrs[-1] == pytest.approx(1e-5, rel=0.05)


@pytest.mark.slow
def test_weight_decay_groups():
    """Decay 0.05 on conv/linear weights only: norms, biases and layer scales get none."""
    from mmengine.optim import build_optim_wrapper
    cfg = load('s12')
    model = build('s12', train_cfg=None)
    init_default_scope('mmpretrain')
    ow = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {}
    for group in ow.optimizer.param_groups:
        for p in group['params']:
            decay[id(p)] = group['weight_decay']
    names = dict(model.named_parameters())
    assert len(decay) == len(names)
    for name, p in names.items():
        want = 0.05 if p.ndim > 1 else 0.0
        assert decay[id(p)] == want, (name, decay[id(p)])
    assert any('layer_scale' in n for n in names) and any('norm3' in n for n in names)


# ------------------------------------------------------------------------------------ models
@pytest.mark.slow
@pytest.mark.parametrize('size', SIZES)
def test_param_count(size, monkeypatch):
    # skip the (slow, irrelevant here) truncated-normal init of ~190M parameters
    monkeypatch.setattr(torch.nn.init, 'trunc_normal_', lambda t, *a, **k: t)
    model = build(size)
    bb = model.backbone
    assert isinstance(bb, mmmeta.MetaFormer) and bb.out_indices == (3, )
    assert tuple(bb.arch_settings['depths']) == DEPTHS[size]
    assert tuple(bb.arch_settings['dims']) == DIMS[size[0]]
    assert hasattr(bb, 'norm3') and not any(hasattr(bb, f'norm{i}') for i in range(3))
    dprs = [b.drop_path.p for s in bb.stages for b in s.blocks if hasattr(b.drop_path, 'p')]
    assert max(dprs) == pytest.approx(DROP_PATH[size])
    n = n_params(model)
    print(f'{name_of(size)}: {n:,} parameters')
    assert round(n / 1e6, 2) == REF_PARAMS[size], n


def _batch(n=2, size=64):
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g)
              for _ in range(n)]
    samples = [DataSample().set_gt_label(i * 7) for i in range(n)]
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.slow
@pytest.mark.parametrize('augments', [False, True], ids=['plain', 'mixup_cutmix'])
def test_s12_train_step(augments):
    """One CPU forward/backward in 'loss' mode (with and without the batch augments)."""
    torch.manual_seed(0)
    model = build('s12') if augments else build('s12', train_cfg=None)
    model.train()
    data = model.data_preprocessor(_batch(), True)
    assert data['inputs'].shape == (2, 3, 64, 64) and data['inputs'].dtype == torch.float32
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss'}
    loss = losses['loss']
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    for name in ('backbone.stem.conv.weight', 'backbone.norm3.weight',
                 'backbone.stages.0.blocks.0.layer_scale1.scale', 'head.fc.weight'):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    # inference: one score vector of 1000 classes per image
    model.eval()
    with torch.no_grad():
        preds = model(**model.data_preprocessor(_batch(), False), mode='predict')
    assert len(preds) == 2 and preds[0].pred_score.shape == (1000, )


# ------------------------------------------------------------------------------------ checkpoints
def official_v1_name(key: str) -> str:
    """mmmeta backbone key -> official ``poolformer_*.pth.tar`` key (sail-sg/poolformer names).

    Stage i's blocks are ``network.{2i}``, the downsampling conv in front of stage i (i >= 1) is
    ``network.{2i-1}.proj``, the stem is ``patch_embed.proj``, the classifier's final norm is
    ``norm``, layer scales are bare parameters ``layer_scale_{1,2}``.
    """
    if key.startswith('stem.conv.'):
        return 'patch_embed.proj.' + key[len('stem.conv.'):]
    m = re.fullmatch(r'stages\.(\d)\.downsample\.conv\.(weight|bias)', key)
    if m:
        return f'network.{2 * int(m.group(1)) - 1}.proj.{m.group(2)}'
    m = re.fullmatch(r'stages\.(\d)\.blocks\.(\d+)\.(.+)', key)
    if m:
        rest = re.sub(r'^layer_scale(\d)\.scale$', r'layer_scale_\1', m.group(3))
        assert re.fullmatch(r'(norm[12]|mlp\.fc[12])\.(weight|bias)|layer_scale_[12]', rest), key
        return f'network.{2 * int(m.group(1))}.{m.group(2)}.{rest}'
    if key.startswith('norm3.'):
        return 'norm.' + key[len('norm3.'):]
    raise AssertionError(f'no official v1 name for {key}')


def _official_state(backbone, num_classes=1000):
    """(official-layout state dict with fresh values, {mmmeta key: official key})."""
    torch.manual_seed(1)
    names, state = {}, {}
    for key, t in backbone.state_dict().items():
        names[key] = official_v1_name(key)
        state[names[key]] = torch.randn_like(t)
    assert len(set(names.values())) == len(names)
    dim = backbone.arch_settings['dims'][-1]
    state['head.weight'] = torch.randn(num_classes, dim)
    state['head.bias'] = torch.randn(num_classes)
    return state, names


@pytest.mark.slow
def test_official_checkpoint_loads(tmp_path):
    model = build('s12', train_cfg=None)
    bb = model.backbone
    state, names = _official_state(bb)
    # the official layout: the top-level names of poolformer_*.pth.tar
    assert {k.split('.')[0] for k in state} == {'patch_embed', 'network', 'norm', 'head'}
    assert {int(k.split('.')[1]) for k in state if k.startswith('network.')} == set(range(7))
    assert {k for k in state if re.match(r'network\.[135]\.', k)} == {
        f'network.{i}.proj.{p}' for i in (1, 3, 5) for p in ('weight', 'bias')}
    assert state['network.0.0.mlp.fc1.weight'].shape == (256, 64, 1, 1)  # 1x1 conv
    assert state['network.6.1.layer_scale_2'].shape == (512, )
    path = tmp_path / 'poolformer_s12.pth.tar'
    torch.save(state, path)  # a raw state dict, like the official file

    head_before = model.head.fc.weight.detach().clone()
    bb.init_cfg = dict(type='Pretrained', checkpoint=str(path))
    model.init_weights()
    own = bb.state_dict()
    assert set(own) == set(names)
    for key, official in names.items():
        assert torch.equal(own[key], state[official]), key
    # the classifier's final norm landed in the backbone's output norm of stage 3
    assert torch.equal(bb.norm3.weight, state['norm.weight'])
    assert torch.equal(bb.norm3.bias, state['norm.bias'])
    # a backbone init_cfg loads the backbone only: the head keeps its own (fresh) init
    assert not torch.equal(model.head.fc.weight, state['head.weight'])
    assert model.head.fc.weight.shape == head_before.shape


@pytest.mark.slow
def test_mmpretrain_classifier_checkpoint_loads():
    """mmpretrain's poolformer classifier layout (official names under ``backbone.``, final
    norm ``norm6``, head ``head.fc``) loads strictly into the whole classifier."""
    model = build('s12', train_cfg=None)
    state, names = _official_state(model.backbone)
    full = {}
    for key, t in state.items():
        if key.startswith('head.'):
            full['head.fc.' + key[len('head.'):]] = t
        elif key.startswith('norm.'):
            full['backbone.norm6.' + key[len('norm.'):]] = t
        else:
            full['backbone.' + key] = t
    model.load_state_dict(full, strict=True)
    own = model.state_dict()
    for key, official in names.items():
        assert torch.equal(own['backbone.' + key], state[official]), key
    assert torch.equal(model.head.fc.weight, state['head.weight'])
