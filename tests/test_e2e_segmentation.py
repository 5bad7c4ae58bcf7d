"""End to end on CPU: tools/train.py and tools/test.py with the Semantic FPN demo config on a
tiny synthetic ADE20K-layout dataset (real IoUMetric, --resume, painted predictions), equality
with mmsegmentation's own PoolFormer FPN config given the same weights, and the authors'
mmseg 0.x checkpoint layout.

The tools run as subprocesses (``sys.executable``); the --resume run calls tools/train.py's entry
point in-process (--resume runs as a subprocess in test_reliability.py). Everything is kept
tiny (4 train / 2 val images of 96x128, 64x64 crops, one block per stage, batch 1, 2
iterations).
"""
import re
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch

import helpers
from helpers import LOADERS, ROOT, loader_options, run_tool

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # the tools as subprocesses, training

DEMO = ROOT / 'configs' / 'demo' / 'fpn_poolformer_s12_demo.py'
OURS = ROOT / 'configs' / 'fpn_poolformer_s12_40k_ade20k.py'
CLASSES = ('background', 'circle', 'square', 'triangle', 'star')
NUM_TRAIN, NUM_VAL = 4, 2
HEIGHT, WIDTH = 96, 128
ADE_DATA = dict(num_train=NUM_TRAIN, num_val=NUM_VAL, size=(HEIGHT, WIDTH), seed=0)
SCALE = f'({WIDTH},{HEIGHT})'  # mmcv scales are (w, h)
CROP = '(64,64)'


def tiny_options(root: Path, max_iters: int = 2) -> List[str]:
    """Data in ``root``, small images and crops, batch 1, no workers, one block per stage, a
    checkpoint every iteration (all kept), evaluation every 2 iterations."""
    opts = [f'{loader}.dataset.data_root={root}' for loader in LOADERS] + [
        f'train_cfg.max_iters={max_iters}', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=-1',
        'default_hooks.logger.interval=1',
        f'train_dataloader.dataset.pipeline.2.scale={SCALE}',
        f'train_dataloader.dataset.pipeline.3.crop_size={CROP}',
        f'model.data_preprocessor.size={CROP}',
        f'val_dataloader.dataset.pipeline.1.scale={SCALE}',
        f'test_dataloader.dataset.pipeline.1.scale={SCALE}',
        'model.backbone.depths=[1,1,1,1]',
        'model.backbone.init_cfg=None',  # the demo backbone file is a full-depth S12
    ]
    return opts + loader_options(batch_size=1)


def assert_iou_report(output: str) -> None:
    """IoUMetric's per-class table (every class, with IoU and Acc columns) and the mIoU."""
    assert 'per class results:' in output, output[-6000:]
    table = output.split('per class results:', 1)[1]
    header = next(line for line in table.splitlines() if 'Class' in line)
    assert 'IoU' in header and 'Acc' in header, header
    for name in CLASSES:
        assert re.search(rf'\|\s*{name}\s*\|\s*(\d+\.\d+|nan)\s*\|', table), (name, table[:3000])
    assert re.search(r'mIoU: \d+\.\d+', output), output[-6000:]


def train(work_dir: Path, ade_root: Path, *extra: str, max_iters: int = 2):
    proc = run_tool('train.py', DEMO, '--work-dir', work_dir, *extra, '--cfg-options',
                    *tiny_options(ade_root, max_iters), cwd=work_dir.parent)
    assert proc.returncode == 0, proc.output[-6000:]
    return proc


@pytest.fixture(scope='module')
def trained(ade_root, tmp_path_factory):
    """(work dir, output) of a 2-iteration run with an evaluation at iteration 2."""
    work_dir = tmp_path_factory.mktemp('fpn') / 'work'
    proc = train(work_dir, ade_root)
    return work_dir, proc.output


# ----------------------------------------------------------------------------------------------
# tools/train.py, --resume, tools/test.py --show-dir
# ----------------------------------------------------------------------------------------------
def test_train_evaluates_with_iou_metric(trained):
    work_dir, output = trained
    assert (work_dir / 'iter_1.pth').is_file() and (work_dir / 'iter_2.pth').is_file()
    assert 'Iter(val) [2/2]' in output
    assert_iou_report(output)


def test_resume_continues(trained, ade_root, monkeypatch):
    """tools/train.py's entry point in-process (the training itself runs as a subprocess in
    the ``trained`` fixture; --resume as a subprocess in test_reliability.py)."""
    from mmmeta import launch
    work_dir, _ = trained
    assert not (work_dir / 'iter_4.pth').exists()
    runner, output = helpers.main_in_process(
        launch.main_train, DEMO, '--work-dir', work_dir, '--resume', '--cfg-options',
        *tiny_options(ade_root, 4), log_dir=work_dir, cwd=work_dir.parent,
        monkeypatch=monkeypatch)
    assert runner.iter == 4
    assert re.search(r'resumed epoch: \d+, iter: 2\b', output), output[-6000:]
    assert 'Iter(train) [3/4]' in output and 'Iter(train) [1/4]' not in output
    assert (work_dir / 'iter_4.pth').is_file()
    meta = torch.load(work_dir / 'iter_4.pth', map_location='cpu', weights_only=False)['meta']
    assert meta['iter'] == 4


def test_test_writes_colour_maps_and_iou_table(trained, ade_root):
    import cv2
    work_dir, _ = trained
    show_dir = work_dir.parent / 'vis'
    proc = run_tool('test.py', DEMO, work_dir / 'iter_2.pth', '--work-dir', work_dir,
                    '--show-dir', show_dir, '--cfg-options', *tiny_options(ade_root),
                    cwd=work_dir.parent)
    assert proc.returncode == 0, proc.output[-6000:]
    assert_iou_report(proc.output)
    assert 'Iter(test) [2/2]' in proc.output

    painted = sorted(p for p in show_dir.rglob('*') if p.suffix in ('.png', '.jpg'))
    assert len(painted) == NUM_VAL, sorted(str(p) for p in show_dir.rglob('*'))
    for path in painted:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert img is not None and img.ndim == 3 and img.shape[2] == 3, path
        assert img.shape[0] >= HEIGHT and img.shape[1] >= WIDTH, img.shape
        # colour, not a grey label map (whose channels are equal everywhere): the ground-truth
        # half paints the shapes in the palette whatever the untrained model predicts (an
        # all-background prediction on a grey image adds no colour, so the share is small)
        assert (np.abs(img.astype(int) - img[..., :1].astype(int)) > 10).mean() > 0.005, path


# ----------------------------------------------------------------------------------------------
# Same logits as mmsegmentation's own PoolFormer FPN config (mmpretrain.PoolFormer)
# ----------------------------------------------------------------------------------------------
def syncbn_to_bn_(node) -> None:
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
        for value in node.values():
            syncbn_to_bn_(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            syncbn_to_bn_(value)


def build_segmentor(config: Path):
    """The config's model with random weights (backbone init_cfg None) and BN for SyncBN."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    import mmmeta  # noqa: F401
    register_all_modules()
    cfg = Config.fromfile(str(config))  # runs the config's custom_imports
    cfg.model.backbone.init_cfg = None
    syncbn_to_bn_(cfg.model)
    return MODELS.build(cfg.model)


def logits(model, size=512) -> torch.Tensor:
    torch.manual_seed(123)
    inputs = torch.randn(1, 3, size, size)
    metas = [dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size))]
    model.eval()
    with torch.no_grad():
        return model.encode_decode(inputs, metas)


def test_same_logits_as_mmseg_poolformer_config():
    import mmseg
    theirs_cfg = (Path(mmseg.__file__).parent / '.mim' / 'configs' / 'poolformer'
                  / 'fpn_poolformer_s12_8xb4-40k_ade20k-512x512.py')
    assert theirs_cfg.is_file(), theirs_cfg
    torch.manual_seed(0)
    theirs = build_segmentor(theirs_cfg)
    assert type(theirs.backbone).__module__.startswith('mmpretrain'), type(theirs.backbone)
    helpers.randomize_(theirs)
    ours = build_segmentor(OURS)
    assert type(ours.backbone).__name__ == 'MetaFormer'

    result = ours.load_state_dict(theirs.state_dict(), strict=False)
    print('missing:', result.missing_keys, 'unexpected:', result.unexpected_keys)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for key, value in theirs.state_dict().items():  # neck and head keep their names
        if not key.startswith('backbone.'):
            assert torch.equal(ours.state_dict()[key], value), key

    ref, out = logits(theirs), logits(ours)
    assert ref.shape == out.shape == (1, 150, 512, 512)
    diff = (ref - out).abs().max().item()
    print(f'max |logits| {ref.abs().max().item():.3f}, max abs difference {diff:.2e}')
    assert diff <= 1e-4
    assert ref.std() > 1e-2  # not a degenerate comparison
    # The plain module path (no fused channels-last stages) runs the same ops as mmpretrain
    # (bit-identical here; the fused path above differs by rounding only).
    ours.backbone.fast = False
    assert (logits(ours) - ref).abs().max().item() <= 1e-6


# ----------------------------------------------------------------------------------------------
# The authors' mmseg 0.x checkpoint layout
# ----------------------------------------------------------------------------------------------
def test_authors_mmseg0_checkpoint_evaluates(tmp_path, monkeypatch):
    torch.manual_seed(0)
    original = build_segmentor(OURS)
    helpers.randomize_(original)
    state: Dict[str, torch.Tensor] = original.state_dict()
    authors = {}
    for key, value in state.items():
        if key.startswith('backbone.'):
            key = 'backbone.' + helpers.authors_backbone_key(key[len('backbone.'):])
        authors[key] = value.clone()
    assert {f'backbone.norm{i}.weight' for i in (0, 2, 4, 6)} <= set(authors)
    assert {'backbone.patch_embed.proj.weight', 'backbone.network.0.1.layer_scale_2',
            'backbone.network.1.proj.weight', 'backbone.network.4.5.mlp.fc1.weight',
            'neck.lateral_convs.0.conv.weight', 'decode_head.conv_seg.weight',
            'decode_head.scale_heads.0.0.bn.running_var'} <= set(authors)
    assert not any(k.startswith('backbone.stages.') for k in authors)
    path = tmp_path / 'fpn_poolformer_s12_ade20k_40k.pth'
    torch.save(dict(meta=dict(mmseg_version='0.19.0'), state_dict=authors), path)

    torch.manual_seed(1)
    model = build_segmentor(OURS)
    missing, unexpected = helpers.load_with_report(model, path, monkeypatch)
    assert missing == [] and unexpected == []
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
    # and it evaluates exactly as the model the checkpoint was made from
    assert torch.equal(logits(model, 64), logits(original, 64))
