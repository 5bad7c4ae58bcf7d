"""mmmeta.launch.checks and .data_checks: one sentence, before the Runner, for a missing
checkpoint, pretrained file or dataset path and a malformed COCO file; and
tools/misc/verify_dataset.py, which runs the dataset checks on their own."""
import json
import shutil
import subprocess
import sys

import pytest
from launch_helpers import (
    COCO,
    ROOT,
    config_for_test,
    config_for_train,
    det_config_text,
    error_of,
    make_coco,
)

from mmmeta.launch import checks, data_checks, verify


@pytest.mark.unit
def test_missing_checkpoint_for_test(det_cfg_file, tmp_path):
    with pytest.raises(SystemExit) as exc:
        config_for_test([det_cfg_file, tmp_path / 'missing.pth'])
    assert 'checkpoint file not found' in error_of(exc) and 'missing.pth' in error_of(exc)


@pytest.mark.unit
def test_missing_load_from_in_config(det_cfg_file, tmp_path):
    cfg = config_for_train([det_cfg_file, '--cfg-options', f'load_from={tmp_path}/gone.pth'])
    with pytest.raises(SystemExit) as exc:
        checks.check_run(cfg, 'train')
    assert 'gone.pth' in error_of(exc)
    checks.check_checkpoint('https://example.com/w.pth', 'url')  # URLs are not checked


@pytest.mark.unit
def test_missing_pretrained_backbone_file(det_cfg_file, tmp_path):
    """A Pretrained init_cfg whose file is absent stops training up front with the fix; the
    demo backbone's message says how to make it; testing does not need the file."""
    missing = tmp_path / 'checkpoints' / 'poolformer_s12.pth.tar'
    opts = ['--cfg-options', 'model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={missing}']
    with pytest.raises(SystemExit) as exc:
        checks.check_run(config_for_train([det_cfg_file, *opts]), 'train')
    msg = error_of(exc)
    assert 'pretrained backbone weights not found' in msg and str(missing) in msg
    assert 'init_cfg=None' in msg
    demo = ['--cfg-options', 'model.backbone.init_cfg.type=Pretrained',
            'model.backbone.init_cfg.checkpoint=checkpoints/demo/gone.safetensors']
    with pytest.raises(SystemExit) as exc:
        checks.check_run(config_for_train([det_cfg_file, *demo]), 'train')
    assert 'tools/demo.py --pretrain' in error_of(exc)
    checks.check_run(config_for_train([det_cfg_file, '--cfg-options',
                                       'model.backbone.init_cfg=None']), 'train')


@pytest.mark.unit
def test_dataset_paths_ok(det_cfg_file, seg_cfg_file, ckpt_file):
    checks.check_run(config_for_train([det_cfg_file]), 'train')
    checks.check_run(config_for_test([det_cfg_file, ckpt_file]), 'test')
    checks.check_run(config_for_train([seg_cfg_file]), 'train')
    checks.check_run(config_for_test([seg_cfg_file, ckpt_file]), 'test')


@pytest.mark.unit
def test_missing_data_root(tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text(det_config_text(str(tmp_path / 'no_such_coco') + '/'))
    with pytest.raises(SystemExit) as exc:
        checks.check_run(config_for_train([path]), 'train')
    msg = error_of(exc)
    assert 'dataset path not found' in msg and 'no_such_coco' in msg
    assert '--cfg-options train_dataloader.dataset.data_root=' in msg
    assert 'python tools/make_demo_data.py coco' in msg


@pytest.mark.unit
def test_missing_ann_file_and_prefix(det_cfg_file, tmp_path, seg_cfg_file, ckpt_file):
    (tmp_path / 'coco' / 'annotations' / 'val.json').unlink()
    with pytest.raises(SystemExit) as exc:  # val_dataloader is checked for training too
        checks.check_run(config_for_train([det_cfg_file]), 'train')
    assert 'annotations/val.json' in error_of(exc)
    assert 'val_dataloader.dataset.ann_file' in error_of(exc)

    shutil.rmtree(tmp_path / 'ade' / 'annotations' / 'validation')
    checks.check_run(config_for_train([seg_cfg_file]), 'train')  # no val loop: not checked
    with pytest.raises(SystemExit) as exc:
        checks.check_run(config_for_test([seg_cfg_file, ckpt_file]), 'test')
    assert 'annotations/validation' in error_of(exc)
    assert '--cfg-options test_dataloader.dataset.data_root=' in error_of(exc)


@pytest.mark.unit
def test_evaluator_ann_file_is_checked(det_cfg_file, tmp_path, ckpt_file):
    """CocoMetric's ann_file is a string fixed at parse time: a data_root override misses it."""
    other = make_coco(tmp_path / 'other')
    cfg = config_for_test([det_cfg_file, ckpt_file, '--cfg-options',
                           f'test_dataloader.dataset.data_root={other}',
                           'test_evaluator.ann_file=' + str(tmp_path / 'gone' / 'val.json')])
    with pytest.raises(SystemExit) as exc:
        checks.check_run(cfg, 'test')
    assert 'test_evaluator.ann_file' in error_of(exc) and 'gone/val.json' in error_of(exc)
    cfg.test_evaluator = dict(type='Evaluator', metrics=[
        dict(type='CocoMetric', ann_file=str(other / 'annotations' / 'train.json'))])
    (other / 'annotations' / 'train.json').write_text('{}')
    with pytest.raises(SystemExit) as exc:
        checks.check_run(cfg, 'test')
    assert 'test_evaluator.metrics.0.ann_file' in error_of(exc)
    assert 'malformed COCO' in error_of(exc)


@pytest.mark.unit
def test_wrapped_dataset_is_checked(det_cfg_file, tmp_path):
    cfg = config_for_train([det_cfg_file])
    inner = cfg.train_dataloader.dataset
    inner.data_root = str(tmp_path / 'elsewhere')
    cfg.train_dataloader.dataset = dict(type='RepeatDataset', times=2, dataset=inner)
    with pytest.raises(SystemExit) as exc:
        data_checks.check_datasets(cfg, 'train')
    assert 'train_dataloader.dataset.dataset.data_root' in error_of(exc)


@pytest.mark.parametrize('content,problem', [
    ('{"images": [', 'not valid JSON'),
    ('[1, 2]', 'not an object'),
    ('{"images": [], "categories": []}', "'annotations'"),
])
@pytest.mark.unit
def test_malformed_coco_annotation(det_cfg_file, tmp_path, content, problem):
    ann = tmp_path / 'coco' / 'annotations' / 'train.json'
    ann.write_text(content)
    with pytest.raises(SystemExit) as exc:
        checks.check_run(config_for_train([det_cfg_file]), 'train')
    msg = error_of(exc)
    assert 'malformed COCO annotation file' in msg and str(ann) in msg and problem in msg


@pytest.mark.unit
def test_large_coco_file_byte_scan(tmp_path, monkeypatch):
    monkeypatch.setattr(data_checks, 'FULL_JSON_CHECK_MAX_BYTES', 10)
    good = tmp_path / 'good.json'
    good.write_text(json.dumps(COCO))
    data_checks.check_coco_annotation(str(good))
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(dict(images=[], categories=[])))
    with pytest.raises(SystemExit) as exc:
        data_checks.check_coco_annotation(str(bad))
    assert "'annotations'" in error_of(exc)


def verify_dataset(*argv, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / 'tools' / 'misc' / 'verify_dataset.py'),
                           *map(str, argv)], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.e2e
@pytest.mark.slow
def test_verify_dataset_tool(det_cfg_file, tmp_path, capsys):
    """The dataset checks on their own: what was checked, or one sentence and exit status 1."""
    checked = verify.run_verify([str(det_cfg_file)])
    out = capsys.readouterr().out
    assert 'train: 5 dataset path(s) checked' in out  # train + val loaders, val evaluator
    assert 'test: 3 dataset path(s) checked' in out
    assert str(tmp_path / 'coco' / 'annotations' / 'val.json') in checked
    (tmp_path / 'coco' / 'annotations' / 'train.json').write_text('[]')
    verify.run_verify([str(det_cfg_file), '--phase', 'test'])  # test data: no train.json
    proc = verify_dataset(det_cfg_file, cwd=tmp_path)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'malformed COCO annotation file' in proc.stderr and 'train.json' in proc.stderr
