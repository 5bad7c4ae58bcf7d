"""End to end on CPU: tools/train.py and tools/test.py with the RetinaNet and Mask R-CNN demo
configs on a tiny synthetic COCO dataset (real CocoMetric, result dump, painted images,
--resume), checkpoints in the authors' mmdet 2.x layout, and the tools' messages on bad input.

The tools run as subprocesses (``sys.executable``), as a user runs them (the --resume run calls
tools/train.py's entry point in-process: --resume runs as a subprocess in test_reliability.py).
Everything is kept tiny (4 train / 2 val images of 96x128, one block per stage, batch 1, 2
iterations) so the module runs in a few minutes on two CPU cores.
"""
import json
import pickle
import re
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest
import torch

from helpers import (
    LOADERS,
    ROOT,
    authors_backbone_key,
    load_with_report,
    loader_options,
    main_in_process,
    randomize_,
    run_tool,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # the tools as subprocesses, training

RETINANET = ROOT / 'configs' / 'demo' / 'retinanet_poolformer_s12_demo.py'
MASK_RCNN = ROOT / 'configs' / 'demo' / 'mask_rcnn_poolformer_s12_demo.py'
RETINANET_FULL = ROOT / 'configs' / 'retinanet_poolformer_s12_1x_coco.py'
NUM_TRAIN, NUM_VAL = 4, 2
HEIGHT, WIDTH = 96, 128
COCO_DATA = dict(num_train=NUM_TRAIN, num_val=NUM_VAL, size=(HEIGHT, WIDTH), seed=0)
SCALE = f'({WIDTH},{HEIGHT})'  # mmcv scales are (w, h)


def data_options(root: Path) -> List[str]:
    """--cfg-options that point every dataloader and evaluator at the COCO data in ``root``."""
    root = f'{root}/'
    ann = f'{root}annotations/instances_val.json'
    return ([f'{loader}.dataset.data_root={root}' for loader in LOADERS]
            + [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}'])


def tiny_options(root: Path, max_iters: int = 2, mask: bool = False) -> List[str]:
    """Data in ``root``, small images, batch 1, no workers, one block per stage (random init),
    a checkpoint every iteration (all kept), evaluation after ``max_iters`` iterations, no score
    threshold (an untrained RetinaNet scores everything ~0.01, and an empty result list
    would make CocoMetric skip the evaluation)."""
    opts = data_options(root) + [
        f'train_cfg.max_iters={max_iters}', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=-1',
        'default_hooks.logger.interval=1',
        f'train_dataloader.dataset.pipeline.2.scale={SCALE}',
        f'val_dataloader.dataset.pipeline.1.scale={SCALE}',
        f'test_dataloader.dataset.pipeline.1.scale={SCALE}',
        'model.backbone.depths=[1,1,1,1]',
        'model.backbone.init_cfg=None',  # the demo backbone file is a full-depth S12
        'model.test_cfg.rcnn.score_thr=0.0' if mask else 'model.test_cfg.score_thr=0.0',
    ]
    return opts + loader_options(batch_size=1)


def json_metrics(run_dir: Path) -> Dict[str, float]:
    """The scalars logged by one run (<work_dir>/<timestamp>/<timestamp>.json), merged."""
    metrics = {}
    for path in sorted(run_dir.glob('*.json')):
        for line in path.read_text().splitlines():
            if line.strip():
                metrics.update(json.loads(line))
    return metrics


def train(config: Path, work_dir: Path, coco_root: Path, mask: bool, *extra: str,
          max_iters: int = 2) -> subprocess.CompletedProcess:
    proc = run_tool('train.py', config, '--work-dir', work_dir, *extra, '--cfg-options',
                    *tiny_options(coco_root, max_iters, mask), cwd=work_dir.parent)
    assert proc.returncode == 0, proc.output[-6000:]
    return proc


@pytest.fixture(scope='module')
def trained(coco_root, tmp_path_factory) -> Dict[str, Path]:
    """Work dirs of RetinaNet and Mask R-CNN, trained 2 iterations (iter_1.pth, iter_2.pth):
    RetinaNet by tools/train.py as a subprocess, Mask R-CNN (whose training output no test
    reads) by the same entry point in-process."""
    from mmmeta import launch
    dirs = {}
    for name, config, mask in (('retinanet', RETINANET, False), ('mask_rcnn', MASK_RCNN, True)):
        work_dir = tmp_path_factory.mktemp(name) / 'work'
        if name == 'retinanet':
            train(config, work_dir, coco_root, mask)
        else:
            with pytest.MonkeyPatch.context() as monkeypatch:
                runner, _ = main_in_process(
                    launch.main_train, config, '--work-dir', work_dir, '--cfg-options',
                    *tiny_options(coco_root, 2, mask), log_dir=work_dir, cwd=work_dir.parent,
                    monkeypatch=monkeypatch)
            assert runner.iter == 2
        dirs[name] = work_dir
    return dirs


# ----------------------------------------------------------------------------------------------
# train -> test with the real CocoMetric, --out and --show-dir
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('name, config, mask', [
    ('retinanet', RETINANET, False), ('mask_rcnn', MASK_RCNN, True)])
def test_train_then_test(trained, coco_root, name, config, mask):
    work_dir = trained[name]
    assert (work_dir / 'iter_1.pth').is_file() and (work_dir / 'iter_2.pth').is_file()
    ckpt = work_dir / 'iter_2.pth'
    out = work_dir / 'res.pkl'
    proc = run_tool('test.py', config, ckpt, '--work-dir', work_dir, '--out', out,
                    '--show-dir', 'vis', '--cfg-options', *tiny_options(coco_root, mask=mask),
                    cwd=work_dir.parent)
    assert proc.returncode == 0, proc.output[-6000:]

    # The real CocoMetric ran: pycocotools' summary and the coco/* metrics, in the output
    # and in the json log.
    # --show-dir (relative): mmdet paints into <work_dir>/<timestamp>/vis
    painted = sorted(work_dir.glob('*/vis/*.jpg'))
    assert len(painted) == NUM_VAL, sorted(str(p) for p in work_dir.rglob('*'))

    types = ('bbox', 'segm') if mask else ('bbox', )
    metrics = json_metrics(painted[0].parent.parent)  # the log of the test run
    for iou_type in types:
        assert f'Evaluate annotation type *{iou_type}*' in proc.output, proc.output[-6000:]
        assert f'coco/{iou_type}_mAP' in proc.output, proc.output[-6000:]
        assert isinstance(metrics.get(f'coco/{iou_type}_mAP'), float), metrics
    if not mask:
        assert 'coco/segm_mAP' not in metrics

    # --out: one result per validation image, with the predicted instances
    assert out.is_file()
    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert isinstance(results, list) and len(results) == NUM_VAL
    for res in results:
        assert isinstance(res, dict) and 'img_id' in res
        pred = res['pred_instances']
        assert {'bboxes', 'scores', 'labels'} <= set(pred)
        assert len(pred['bboxes']) > 0  # score_thr=0: an untrained model still predicts
        if mask:
            assert 'masks' in pred
    assert sorted(r['img_id'] for r in results) == [1, 2]


# ----------------------------------------------------------------------------------------------
# --resume: a run stopped at iteration 2 continues to iteration 4
# ----------------------------------------------------------------------------------------------
def test_resume_continues(trained, coco_root, monkeypatch):
    """tools/train.py's entry point in-process (the training itself runs as a subprocess in
    the ``trained`` fixture; --resume as a subprocess in test_reliability.py)."""
    from mmmeta import launch
    work_dir = trained['retinanet']
    assert (work_dir / 'iter_2.pth').is_file() and not (work_dir / 'iter_4.pth').exists()
    runner, output = main_in_process(
        launch.main_train, RETINANET, '--work-dir', work_dir, '--resume', '--cfg-options',
        *tiny_options(coco_root, 4), log_dir=work_dir, cwd=work_dir.parent,
        monkeypatch=monkeypatch)
    assert runner.iter == 4
    assert re.search(r'resumed epoch: \d+, iter: 2\b', output), output[-6000:]
    assert 'Auto resumed from the latest checkpoint' in output
    assert 'Iter(train) [3/4]' in output and 'Iter(train) [4/4]' in output
    assert 'Iter(train) [1/4]' not in output  # did not start over
    assert (work_dir / 'iter_3.pth').is_file() and (work_dir / 'iter_4.pth').is_file()
    meta = torch.load(work_dir / 'iter_4.pth', map_location='cpu', weights_only=False)['meta']
    assert meta['iter'] == 4


# ----------------------------------------------------------------------------------------------
# The authors' mmdet 2.x checkpoint layout
# ----------------------------------------------------------------------------------------------
# What the authors' backbone keys look like (the authors' v1 checkpoints, sail-sg/poolformer).
AUTHORS_KEY = re.compile(
    r'patch_embed\.proj\.(weight|bias)'
    r'|network\.[0246]\.\d+\.((norm1|norm2|mlp\.fc1|mlp\.fc2)\.(weight|bias)|layer_scale_[12])'
    r'|network\.[135]\.proj\.(weight|bias)'
    r'|norm[0246]\.(weight|bias)')


def to_authors_layout(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A full detector/segmentor state dict with the backbone renamed to the authors' keys;
    neck and head keys are kept (mmdet 2.x RetinaNet / mmseg 0.x names equal the 3.x/1.x
    ones)."""
    out = {}
    for key, value in state.items():
        if key.startswith('backbone.'):
            key = 'backbone.' + authors_backbone_key(key[len('backbone.'):])
            assert AUTHORS_KEY.fullmatch(key[len('backbone.'):]), key
        out[key] = value.clone()
    return out


def build_detector(config: Path):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    import mmmeta  # noqa: F401
    register_all_modules()
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.init_cfg = None
    return MODELS.build(cfg.model)


def test_authors_mmdet2_checkpoint_loads(tmp_path, monkeypatch):
    torch.manual_seed(0)
    original = build_detector(RETINANET_FULL)
    randomize_(original, weights=True)
    state = original.state_dict()
    authors = to_authors_layout(state)
    # The authors' backbone always built all four output norms; RetinaNet uses strides 8-32.
    assert 'backbone.norm0.weight' not in state
    authors['backbone.norm0.weight'] = torch.randn(64)
    authors['backbone.norm0.bias'] = torch.randn(64)
    assert {'backbone.patch_embed.proj.weight', 'backbone.network.0.0.layer_scale_1',
            'backbone.network.4.5.mlp.fc2.weight', 'backbone.network.5.proj.weight',
            'backbone.norm2.weight', 'backbone.norm6.bias', 'neck.fpn_convs.0.conv.weight',
            'bbox_head.retina_cls.weight'} <= set(authors)
    path = tmp_path / 'retinanet_poolformer_s12_fpn_1x_coco.pth'
    torch.save(dict(meta=dict(mmdet_version='2.19.0'), state_dict=authors), path)

    torch.manual_seed(1)
    model = build_detector(RETINANET_FULL)
    missing, unexpected = load_with_report(model, path, monkeypatch)
    assert missing == []
    assert unexpected == ['backbone.norm0.bias', 'backbone.norm0.weight']
    loaded = model.state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


# ----------------------------------------------------------------------------------------------
# Bad input: one clear message, exit status 1, no traceback
# ----------------------------------------------------------------------------------------------
def test_missing_dataset_path(tmp_path):
    missing_root = tmp_path / 'no_such_coco'
    proc = run_tool('train.py', RETINANET, '--work-dir', tmp_path / 'work', '--cfg-options',
                    *tiny_options(missing_root), cwd=tmp_path)
    assert proc.returncode == 1, proc.output[-6000:]
    assert 'Traceback' not in proc.output, proc.output[-6000:]
    assert 'dataset path not found' in proc.stderr and str(missing_root) in proc.stderr
    assert 'data_root' in proc.stderr and 'make_demo_data.py' in proc.stderr
    assert not (tmp_path / 'work' / 'iter_1.pth').exists()


def test_malformed_annotation_file(tmp_path):
    from mmmeta.demo_data import make_coco_demo
    root = tmp_path / 'coco'
    make_coco_demo(root, num_train=1, num_val=1, size=(32, 32), seed=0)
    bad = root / 'annotations' / 'instances_train.json'
    bad.write_text(json.dumps(dict(annotations=[], categories=[])))
    proc = run_tool('train.py', RETINANET, '--work-dir', tmp_path / 'work', '--cfg-options',
                    *tiny_options(root), cwd=tmp_path)
    assert proc.returncode == 1, proc.output[-6000:]
    assert 'Traceback' not in proc.output, proc.output[-6000:]
    assert 'malformed COCO annotation file' in proc.stderr and str(bad) in proc.stderr
    assert "'images'" in proc.stderr
