"""tools/demo.py runs end to end in one process for each kind of demo data (COCO, ADE20K,
classification): data, training, testing (the metric lines it prints), inference on validation
images (pictures and JSON); ``--data`` moves every path each demo config reads.

Each run is cut to CPU-test size with the tool's own ``--cfg-options`` (2 iterations, batch 1,
one block per stage, random init, 64x64 pictures) and ``data_args`` (4 training / 2
validation images of 64x64).
"""
import importlib.util
import json
import re
from pathlib import Path

import pytest

from helpers import LOADERS, ROOT

SIZE = (64, 64)  # generated images (h, w): the demo sizes are too slow on shared CPU cores
SCALES = ['train_dataloader.dataset.pipeline.2.scale=(64,64)',  # mmcv scales are (w, h)
          'val_dataloader.dataset.pipeline.1.scale=(64,64)',
          'test_dataloader.dataset.pipeline.1.scale=(64,64)']
# config -> (data kind, the metric lines it prints, its extra options)
DEMOS = {
    'retinanet': ('coco', [r'coco/bbox_mAP\s+\d\.\d{3}'],
                  SCALES + ['model.test_cfg.score_thr=0.0']),
    'mask_rcnn': ('coco', [r'coco/bbox_mAP\s+\d\.\d{3}', r'coco/segm_mAP\s+\d\.\d{3}'],
                  SCALES + ['model.test_cfg.rcnn.score_thr=0.0']),
    'fpn': ('ade', [r'mIoU\s+\d+\.\d\d'],
            SCALES + ['train_dataloader.dataset.pipeline.3.crop_size=(64,64)',
                      'model.data_preprocessor.size=(64,64)']),
    'cls': ('cls', [r'top-1\s+\d+\.\d\d'], []),
}
# tools/demo.py takes the same path for every config of a data kind (the config only picks
# it), so one COCO config runs it: Mask R-CNN, whose metric lines include RetinaNet's box mAP.
# The RetinaNet demo itself trains, tests and infers in test_e2e_detection.py, test_infer.py
# and test_packaging.py.
RUN = ['mask_rcnn', 'fpn', 'cls']


def config(name: str) -> str:
    return f'configs/demo/{name}_poolformer_s12_demo.py'


@pytest.fixture(scope='module')
def demo():
    spec = importlib.util.spec_from_file_location('demo_tool', ROOT / 'tools' / 'demo.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_options(extra):
    """2 iterations with one evaluation, a checkpoint at the end, batch 1 without workers,
    one block per stage from random init (the demo backbone is a full-depth S12)."""
    opts = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
            'model.backbone.depths=[1,1,1,1]', 'model.backbone.init_cfg=None']
    for loader in LOADERS:
        opts += [f'{loader}.batch_size=1', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    return opts + extra


@pytest.mark.unit
@pytest.mark.parametrize('name', DEMOS)
def test_data_moves_every_path_the_config_reads(demo, name):
    from mmengine.config import Config
    cfg = Config.fromfile(str(ROOT / config(name)))
    old = cfg.data_root.rstrip('/')
    cfg.merge_from_dict(dict(o.split('=', 1) for o in demo.data_options(cfg, '/elsewhere/d')))
    text = json.dumps({k: cfg[k] for k in cfg if k.endswith(('_dataloader', '_evaluator'))})
    assert old not in text
    assert text.count('/elsewhere/d') >= 3


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize('name', RUN)
def test_demo_runs_each_data_kind(demo, name, tmp_path, capsys):
    from mmmeta.demo_data import DEMO_PRESETS
    kind, metrics, extra = DEMOS[name]
    work_dir = tmp_path / 'work'
    result = demo.main(['--config', config(name), '--work-dir', str(work_dir),
                        '--data', str(tmp_path / 'data'), '--cfg-options', *tiny_options(extra)],
                       data_args=dict(DEMO_PRESETS[kind], num_train=4, num_val=2, size=SIZE))
    out = capsys.readouterr().out
    summary = out.split('=== mmmeta demo finished ===', 1)[1]
    for metric in metrics:
        assert re.search(metric, summary), summary
    assert f'data        {tmp_path / "data"}' in summary
    pictures = re.search(r'test pictures \(ground truth and predictions\)\s+(\S+)/', summary)
    assert any(Path(pictures.group(1)).glob('*.*')), summary  # tools/test.py --show-dir
    predictions = json.loads((work_dir / 'infer' / 'predictions.json').read_text())
    assert len(predictions['results']) == 2  # both validation images
    for record in predictions['results']:
        assert (work_dir / 'infer' / record['vis']).is_file()
    assert f'inference JSON      {work_dir / "infer" / "predictions.json"}' in summary
    assert result['metrics']
