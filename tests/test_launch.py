"""Tests for mmmeta.launch (the logic behind tools/train.py and tools/test.py).

Everything runs on CPU in seconds and needs no downloads: configs, datasets and checkpoints
are made in ``tmp_path``. The distributed test starts two real processes with torchrun.
"""
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mmmeta  # noqa: F401  (applies mmmeta.compat)
from mmmeta import launch

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------
# Helpers: configs and data written into tmp_path
# ----------------------------------------------------------------------------------------------
def det_config_text(data_root: str, tta: bool = True) -> str:
    text = f"""
    default_scope = 'mmdet'
    data_root = {data_root!r}
    norm_cfg = dict(type='SyncBN', requires_grad=True)
    model = dict(
        type='RetinaNet',
        backbone=dict(type='MetaFormer', arch='s12', norm_cfg=norm_cfg),
        neck=dict(type='FPN', in_channels=[64, 128, 320, 512], out_channels=256,
                  norm_cfg=dict(type='SyncBN')),
        bbox_head=dict(type='RetinaHead', num_classes=2,
                       stacked=[dict(norm_cfg=dict(type='MMSyncBN'))]))
    optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4))
    auto_scale_lr = dict(enable=False, base_batch_size=16)
    train_dataloader = dict(
        batch_size=2,
        dataset=dict(type='CocoDataset', data_root=data_root,
                     ann_file='annotations/train.json', data_prefix=dict(img='train/'),
                     pipeline=[]))
    val_dataloader = dict(
        batch_size=1,
        dataset=dict(type='CocoDataset', data_root=data_root,
                     ann_file='annotations/val.json', data_prefix=dict(img='val/'),
                     pipeline=[dict(type='LoadImageFromFile')]))
    test_dataloader = val_dataloader
    train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    val_cfg = dict(type='ValLoop')
    test_cfg = dict(type='TestLoop')
    val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/val.json')
    test_evaluator = val_evaluator
    default_hooks = dict(visualization=dict(type='DetVisualizationHook'))
    visualizer = dict(type='DetLocalVisualizer', name='visualizer')
    env_cfg = dict(dist_cfg=dict(backend='nccl'))
    """
    if tta:
        text += """
    tta_model = dict(type='DetTTAModel',
                     tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
    tta_pipeline = [dict(type='LoadImageFromFile'),
                    dict(type='TestTimeAug', transforms=[[dict(type='RandomFlip', prob=1.)]])]
    """
    return textwrap.dedent(text)


def seg_config_text(data_root: str) -> str:
    return textwrap.dedent(f"""
    default_scope = 'mmseg'
    data_root = {data_root!r}
    model = dict(
        type='EncoderDecoder',
        backbone=dict(type='MetaFormer', arch='s12'),
        decode_head=dict(type='FPNHead', norm_cfg=dict(type='SyncBN', requires_grad=True)))
    optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4))
    train_dataloader = dict(
        batch_size=2,
        dataset=dict(type='ADE20KDataset', data_root=data_root,
                     data_prefix=dict(img_path='images/training',
                                      seg_map_path='annotations/training'),
                     pipeline=[]))
    test_dataloader = dict(
        batch_size=1,
        dataset=dict(type='ADE20KDataset', data_root=data_root,
                     data_prefix=dict(img_path='images/validation',
                                      seg_map_path='annotations/validation'),
                     pipeline=[dict(type='LoadImageFromFile')]))
    test_cfg = dict(type='TestLoop')
    test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
    default_hooks = dict(visualization=dict(type='SegVisualizationHook'))
    visualizer = dict(type='SegLocalVisualizer', name='visualizer')
    tta_model = dict(type='SegTTAModel')
    tta_pipeline = [dict(type='LoadImageFromFile'),
                    dict(type='TestTimeAug', transforms=[[dict(type='RandomFlip', prob=1.)]])]
    """)


COCO = dict(images=[dict(id=1, file_name='a.jpg', width=8, height=8)],
            annotations=[dict(id=1, image_id=1, category_id=1, bbox=[0, 0, 4, 4], area=16,
                              iscrowd=0)],
            categories=[dict(id=1, name='thing')])


def make_coco(root: Path) -> Path:
    (root / 'annotations').mkdir(parents=True)
    for split in ('train', 'val'):
        (root / split).mkdir()
        (root / split / 'a.jpg').write_bytes(b'')  # the launcher counts missing image files
        (root / 'annotations' / f'{split}.json').write_text(json.dumps(COCO))
    return root


def make_ade(root: Path) -> Path:
    for sub, name in (('images', 'a.jpg'), ('annotations', 'a.png')):
        for split in ('training', 'validation'):
            (root / sub / split).mkdir(parents=True)
            (root / sub / split / name).write_bytes(b'')  # the launcher counts image files
    return root


@pytest.fixture
def det_cfg_file(tmp_path: Path) -> Path:
    root = make_coco(tmp_path / 'coco')
    path = tmp_path / 'retinanet_toy_coco.py'
    path.write_text(det_config_text(str(root) + '/'))
    return path


@pytest.fixture
def seg_cfg_file(tmp_path: Path) -> Path:
    root = make_ade(tmp_path / 'ade')
    path = tmp_path / 'fpn_toy_ade.py'
    path.write_text(seg_config_text(str(root)))
    return path


@pytest.fixture
def ckpt_file(tmp_path: Path) -> Path:
    path = tmp_path / 'model.pth'
    torch.save({'state_dict': {}}, path)
    return path


@pytest.fixture
def cpu_only(monkeypatch):
    """Behave as on a machine without an accelerator, whatever this one has."""
    monkeypatch.setattr(launch, 'accelerator_available', lambda: False)


def config_for_train(argv):
    args = launch.build_train_parser().parse_args([str(a) for a in argv])
    return launch.apply_train_args(launch.load_config(args.config), args)


def config_for_test(argv):
    args = launch.build_test_parser().parse_args([str(a) for a in argv])
    return launch.apply_test_args(launch.load_config(args.config), args)



def error_of(excinfo) -> str:
    return str(excinfo.value.code)


# ----------------------------------------------------------------------------------------------
# Library and argument application
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_library_of_known_scopes(scope):
    assert launch.library_of(Config(dict(default_scope=scope))) == scope


@pytest.mark.parametrize('cfg', [dict(), dict(default_scope='mmocr')])
def test_library_of_rejects_missing_or_unknown_scope(cfg):
    with pytest.raises(SystemExit) as exc:
        launch.library_of(Config(cfg))
    assert "'mmdet', 'mmseg', 'mmpretrain'" in error_of(exc)


@pytest.mark.parametrize('scope,registered', [('mmdet', 'DumpDetResults'),
                                              ('mmseg', 'IoUMetric')])
def test_init_library_registers_modules(scope, registered):
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmengine'):  # restores the scope afterwards
        assert launch.init_library(Config(dict(default_scope=scope))) == scope
        assert DefaultScope.get_current_instance().scope_name == scope
    metrics = __import__(f'{scope}.registry', fromlist=['METRICS']).METRICS
    assert registered in metrics.module_dict


def test_init_library_reports_broken_library(monkeypatch):
    def broken(name, *args, **kwargs):
        raise AssertionError('MMCV==2.2.0 is used but incompatible')

    monkeypatch.setattr(launch.importlib, 'import_module', broken)
    with pytest.raises(SystemExit) as exc:
        launch.init_library(Config(dict(default_scope='mmdet')))
    assert 'importing mmdet failed' in error_of(exc) and 'MMCV==2.2.0' in error_of(exc)


def test_work_dir_default_cli_and_config(det_cfg_file, tmp_path):
    assert config_for_train([det_cfg_file]).work_dir == './work_dirs/retinanet_toy_coco'
    cfg = config_for_train([det_cfg_file, '--work-dir', tmp_path / 'w'])
    assert cfg.work_dir == str(tmp_path / 'w')
    cfg = config_for_train([det_cfg_file, '--cfg-options', 'work_dir=from_cfg'])
    assert cfg.work_dir == 'from_cfg'


def test_launcher_and_cfg_options(det_cfg_file):
    cfg = config_for_train([det_cfg_file, '--launcher', 'pytorch', '--cfg-options',
                     'train_dataloader.batch_size=3', 'model.backbone.arch=s24'])
    assert cfg.launcher == 'pytorch'
    assert cfg.train_dataloader.batch_size == 3
    assert cfg.model.backbone.arch == 's24'
    assert config_for_train([det_cfg_file]).launcher == 'none'


def test_resume_auto_and_path(det_cfg_file, ckpt_file, tmp_path):
    work_dir = tmp_path / 'work'
    # nothing to resume yet: said in one line, training starts from the beginning
    cfg = config_for_train([det_cfg_file, '--resume', '--work-dir', work_dir])
    assert cfg.resume is False and cfg.load_from is None
    # the checkpoint last_checkpoint names is picked before the Runner is built
    work_dir.mkdir()
    torch.save({'state_dict': {}}, work_dir / 'epoch_1.pth')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
    cfg = config_for_train([det_cfg_file, '--resume', '--work-dir', work_dir])
    assert cfg.resume is True and cfg.load_from == str(work_dir / 'epoch_1.pth')
    cfg = config_for_train([det_cfg_file, '--resume', ckpt_file])
    assert cfg.resume is True and cfg.load_from == str(ckpt_file)
    cfg = config_for_train([det_cfg_file])
    assert not cfg.get('resume', False)


def test_resume_missing_checkpoint(det_cfg_file, tmp_path):
    with pytest.raises(SystemExit) as exc:
        config_for_train([det_cfg_file, '--resume', tmp_path / 'nope.pth'])
    assert 'checkpoint file not found' in error_of(exc) and 'nope.pth' in error_of(exc)
    assert '--resume' in error_of(exc)


def test_auto_scale_lr(det_cfg_file, seg_cfg_file):
    assert config_for_train([det_cfg_file, '--auto-scale-lr']).auto_scale_lr.enable is True
    with pytest.raises(SystemExit) as exc:
        config_for_train([seg_cfg_file, '--auto-scale-lr'])
    assert 'auto_scale_lr' in error_of(exc) and 'base_batch_size' in error_of(exc)


def test_amp_on_cpu_fails_early_with_clear_message(det_cfg_file, cpu_only):
    with pytest.raises(SystemExit) as exc:
        config_for_train([det_cfg_file, '--amp'])
    msg = error_of(exc)
    assert '--amp' in msg and 'GPU' in msg and 'Traceback' not in msg


def test_amp_in_config_on_cpu_fails(det_cfg_file, cpu_only):
    cfg = config_for_train([det_cfg_file, '--cfg-options', 'optim_wrapper.type=AmpOptimWrapper'])
    with pytest.raises(SystemExit) as exc:
        launch.check_run(cfg, 'train')
    assert 'AmpOptimWrapper' in error_of(exc) and 'GPU' in error_of(exc)
    launch.check_run(cfg, 'test')  # testing an AMP config on CPU is fine (no optimizer)


def test_amp_with_gpu_sets_amp_optim_wrapper(det_cfg_file, monkeypatch):
    monkeypatch.setattr(launch, 'accelerator_available', lambda: True)
    cfg = config_for_train([det_cfg_file, '--amp'])
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    launch.check_amp_supported(cfg)  # no error where a GPU is available


def test_local_rank_alias_sets_env(det_cfg_file, monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', 'x')
    monkeypatch.delenv('LOCAL_RANK')
    launch.parse_args(launch.build_train_parser(), [str(det_cfg_file), '--local_rank', '3'])
    assert os.environ['LOCAL_RANK'] == '3'
    args = launch.build_test_parser().parse_args(['c.py', 'k.pth', '--local-rank', '1'])
    assert args.local_rank == 1


def test_test_args_mmdet(det_cfg_file, ckpt_file, tmp_path):
    cfg = config_for_test([det_cfg_file, ckpt_file, '--out', tmp_path / 'r.pkl',
                    '--show-dir', tmp_path / 'vis'])
    assert cfg.load_from == str(ckpt_file)
    assert cfg.test_evaluator[0].type == 'CocoMetric'
    assert cfg.test_evaluator[1] == dict(type='DumpDetResults',
                                         out_file_path=str(tmp_path / 'r.pkl'))
    hook = cfg.default_hooks.visualization
    assert hook.draw is True and hook.test_out_dir == str(tmp_path / 'vis')
    assert 'show' not in hook

    cfg = config_for_test([det_cfg_file, ckpt_file, '--show', '--wait-time', '0.5'])
    hook = cfg.default_hooks.visualization
    assert hook.draw and hook.show and hook.wait_time == 0.5


def test_test_out_must_be_pickle_for_mmdet(det_cfg_file, ckpt_file):
    with pytest.raises(SystemExit) as exc:
        config_for_test([det_cfg_file, ckpt_file, '--out', 'results.json'])
    assert '.pkl' in error_of(exc)


def test_test_args_mmseg(seg_cfg_file, ckpt_file, tmp_path):
    cfg = config_for_test([seg_cfg_file, ckpt_file, '--out', tmp_path / 'pred',
                    '--show-dir', tmp_path / 'vis'])
    assert cfg.test_evaluator.output_dir == str(tmp_path / 'pred')
    assert cfg.test_evaluator.keep_results is True
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.visualizer.save_dir == str(tmp_path / 'vis')


def test_tta_mmdet_and_mmseg(det_cfg_file, seg_cfg_file, ckpt_file):
    cfg = config_for_test([det_cfg_file, ckpt_file, '--tta'])
    assert cfg.model.type == 'DetTTAModel' and cfg.model.module.type == 'RetinaNet'
    assert cfg.test_dataloader.dataset.pipeline[-1].type == 'TestTimeAug'
    cfg = config_for_test([seg_cfg_file, ckpt_file, '--tta'])
    assert cfg.model.type == 'SegTTAModel' and cfg.model.module.type == 'EncoderDecoder'
    assert cfg.test_dataloader.dataset.pipeline[-1].type == 'TestTimeAug'


def test_tta_without_tta_settings(tmp_path, ckpt_file):
    path = tmp_path / 'no_tta.py'
    path.write_text(det_config_text(str(make_coco(tmp_path / 'coco')), tta=False))
    with pytest.raises(SystemExit) as exc:
        config_for_test([path, ckpt_file, '--tta'])
    assert 'tta_model' in error_of(exc) and 'tta_pipeline' in error_of(exc)


# ----------------------------------------------------------------------------------------------
# Clear errors for missing/malformed files
# ----------------------------------------------------------------------------------------------
def test_missing_config(tmp_path):
    with pytest.raises(SystemExit) as exc:
        launch.load_config(str(tmp_path / 'missing_config.py'))
    assert 'config file not found' in error_of(exc) and 'missing_config.py' in error_of(exc)


def test_missing_checkpoint_for_test(det_cfg_file, tmp_path):
    with pytest.raises(SystemExit) as exc:
        config_for_test([det_cfg_file, tmp_path / 'missing.pth'])
    assert 'checkpoint file not found' in error_of(exc) and 'missing.pth' in error_of(exc)


def test_missing_load_from_in_config(det_cfg_file, tmp_path):
    cfg = config_for_train([det_cfg_file, '--cfg-options', f'load_from={tmp_path}/gone.pth'])
    with pytest.raises(SystemExit) as exc:
        launch.check_run(cfg, 'train')
    assert 'gone.pth' in error_of(exc)
    launch.check_checkpoint('https://example.com/w.pth', 'url')  # URLs are not checked


def test_missing_pretrained_backbone_file(det_cfg_file, tmp_path):
    """A Pretrained init_cfg whose file is absent stops training up front with the fix; the
    demo backbone's message says how to make it; testing does not need the file."""
    missing = tmp_path / 'checkpoints' / 'poolformer_s12.pth.tar'
    opts = ['--cfg-options', 'model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={missing}']
    with pytest.raises(SystemExit) as exc:
        launch.check_run(config_for_train([det_cfg_file, *opts]), 'train')
    msg = error_of(exc)
    assert 'pretrained backbone weights not found' in msg and str(missing) in msg
    assert 'init_cfg=None' in msg
    demo = ['--cfg-options', 'model.backbone.init_cfg.type=Pretrained',
            'model.backbone.init_cfg.checkpoint=checkpoints/demo/gone.safetensors']
    with pytest.raises(SystemExit) as exc:
        launch.check_run(config_for_train([det_cfg_file, *demo]), 'train')
    assert 'tools/demo.py --pretrain' in error_of(exc)
    launch.check_run(config_for_train([det_cfg_file, '--cfg-options',
                                       'model.backbone.init_cfg=None']), 'train')


def test_dataset_paths_ok(det_cfg_file, seg_cfg_file, ckpt_file):
    launch.check_run(config_for_train([det_cfg_file]), 'train')
    launch.check_run(config_for_test([det_cfg_file, ckpt_file]), 'test')
    launch.check_run(config_for_train([seg_cfg_file]), 'train')
    launch.check_run(config_for_test([seg_cfg_file, ckpt_file]), 'test')


def test_missing_data_root(tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text(det_config_text(str(tmp_path / 'no_such_coco') + '/'))
    with pytest.raises(SystemExit) as exc:
        launch.check_run(config_for_train([path]), 'train')
    msg = error_of(exc)
    assert 'dataset path not found' in msg and 'no_such_coco' in msg
    assert '--cfg-options train_dataloader.dataset.data_root=' in msg
    assert 'python tools/make_demo_data.py coco' in msg


def test_missing_ann_file_and_prefix(det_cfg_file, tmp_path, seg_cfg_file, ckpt_file):
    (tmp_path / 'coco' / 'annotations' / 'val.json').unlink()
    with pytest.raises(SystemExit) as exc:  # val_dataloader is checked for training too
        launch.check_run(config_for_train([det_cfg_file]), 'train')
    assert 'annotations/val.json' in error_of(exc)
    assert 'val_dataloader.dataset.ann_file' in error_of(exc)

    shutil.rmtree(tmp_path / 'ade' / 'annotations' / 'validation')
    launch.check_run(config_for_train([seg_cfg_file]), 'train')  # no val loop: not checked
    with pytest.raises(SystemExit) as exc:
        launch.check_run(config_for_test([seg_cfg_file, ckpt_file]), 'test')
    assert 'annotations/validation' in error_of(exc)
    assert '--cfg-options test_dataloader.dataset.data_root=' in error_of(exc)


def test_evaluator_ann_file_is_checked(det_cfg_file, tmp_path, ckpt_file):
    """CocoMetric's ann_file is a string fixed at parse time: a data_root override misses it."""
    other = make_coco(tmp_path / 'other')
    cfg = config_for_test([det_cfg_file, ckpt_file, '--cfg-options',
                           f'test_dataloader.dataset.data_root={other}',
                           'test_evaluator.ann_file=' + str(tmp_path / 'gone' / 'val.json')])
    with pytest.raises(SystemExit) as exc:
        launch.check_run(cfg, 'test')
    assert 'test_evaluator.ann_file' in error_of(exc) and 'gone/val.json' in error_of(exc)
    cfg.test_evaluator = dict(type='Evaluator', metrics=[
        dict(type='CocoMetric', ann_file=str(other / 'annotations' / 'train.json'))])
    (other / 'annotations' / 'train.json').write_text('{}')
    with pytest.raises(SystemExit) as exc:
        launch.check_run(cfg, 'test')
    assert 'test_evaluator.metrics.0.ann_file' in error_of(exc)
    assert 'malformed COCO' in error_of(exc)


def test_wrapped_dataset_is_checked(det_cfg_file, tmp_path):
    cfg = config_for_train([det_cfg_file])
    inner = cfg.train_dataloader.dataset
    inner.data_root = str(tmp_path / 'elsewhere')
    cfg.train_dataloader.dataset = dict(type='RepeatDataset', times=2, dataset=inner)
    with pytest.raises(SystemExit) as exc:
        launch.check_datasets(cfg, 'train')
    assert 'train_dataloader.dataset.dataset.data_root' in error_of(exc)


@pytest.mark.parametrize('content,problem', [
    ('{"images": [', 'not valid JSON'),
    ('[1, 2]', 'not an object'),
    ('{"images": [], "categories": []}', "'annotations'"),
])
def test_malformed_coco_annotation(det_cfg_file, tmp_path, content, problem):
    ann = tmp_path / 'coco' / 'annotations' / 'train.json'
    ann.write_text(content)
    with pytest.raises(SystemExit) as exc:
        launch.check_run(config_for_train([det_cfg_file]), 'train')
    msg = error_of(exc)
    assert 'malformed COCO annotation file' in msg and str(ann) in msg and problem in msg


def test_large_coco_file_byte_scan(tmp_path, monkeypatch):
    monkeypatch.setattr(launch, 'FULL_JSON_CHECK_MAX_BYTES', 10)
    good = tmp_path / 'good.json'
    good.write_text(json.dumps(COCO))
    launch.check_coco_annotation(str(good))
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(dict(images=[], categories=[])))
    with pytest.raises(SystemExit) as exc:
        launch.check_coco_annotation(str(bad))
    assert "'annotations'" in error_of(exc)


# ----------------------------------------------------------------------------------------------
# CPU adaptation and distributed init
# ----------------------------------------------------------------------------------------------
def test_syncbn_to_bn_recursive(det_cfg_file, cpu_only):
    cfg = config_for_train([det_cfg_file])
    launch.adapt_cfg_for_device(cfg, distributed=False)
    assert cfg.norm_cfg.type == 'BN'
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.model.neck.norm_cfg.type == 'BN'
    assert cfg.model.bbox_head.stacked[0].norm_cfg.type == 'BN'
    assert cfg.model.backbone.norm_cfg.requires_grad is True
    assert 'SyncBN' not in cfg.pretty_text
    assert cfg.get('model_wrapper_cfg') is None  # not distributed: no wrapper
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'


def test_cpu_distributed_cfg(det_cfg_file, cpu_only):
    cfg = config_for_train([det_cfg_file, '--launcher', 'pytorch',
                     '--cfg-options', 'find_unused_parameters=True', 'sync_bn=torch'])
    launch.adapt_cfg_for_device(cfg, distributed=True)
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', device_ids=None,
                                         broadcast_buffers=False, find_unused_parameters=True)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.sync_bn is None
    # An existing wrapper config keeps its settings but loses the GPU device ids.
    cfg = Config(dict(model_wrapper_cfg=dict(type='MMDistributedDataParallel',
                                             device_ids=[0], detect_anomalous_params=True)))
    launch.adapt_cfg_for_device(cfg, distributed=True)
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.model_wrapper_cfg.detect_anomalous_params is True
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'


def test_accelerator_leaves_cfg_alone(det_cfg_file, monkeypatch):
    monkeypatch.setattr(launch, 'accelerator_available', lambda: True)
    cfg = config_for_train([det_cfg_file])
    before = cfg.pretty_text
    launch.adapt_cfg_for_device(cfg, distributed=True)
    assert cfg.pretty_text == before


def test_init_distributed_without_env(cpu_only, monkeypatch):
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    launch.init_distributed('none')  # no-op
    with pytest.raises(SystemExit) as exc:
        launch.init_distributed('pytorch')
    assert 'RANK' in error_of(exc) and 'dist_train.sh' in error_of(exc)
    with pytest.raises(SystemExit) as exc:
        launch.init_distributed('pytorch', backend='nccl')
    assert 'gloo' in error_of(exc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_init_distributed_slurm_single_task_cpu(cpu_only, monkeypatch):
    """The slurm path without CUDA: env vars from SLURM_*, then a gloo group."""
    import torch.distributed as dist
    for name, value in dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_NODELIST='localhost',
                            SLURM_LOCALID='0', MASTER_ADDR='127.0.0.1').items():
        monkeypatch.setenv(name, value)
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_PORT'):
        monkeypatch.setenv(name, 'x')  # recorded, so they are restored afterwards
        monkeypatch.delenv(name)
    assert not dist.is_initialized()
    try:
        launch.init_distributed('slurm', backend='gloo', port=_free_port(), timeout=60)
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
        assert (dist.get_rank(), dist.get_world_size()) == (0, 1)
        assert os.environ['LOCAL_RANK'] == '0'
        launch.init_distributed('slurm')  # already initialised: no-op
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


DIST_SCRIPT = '''
import sys
import torch
import torch.distributed as dist
from torch.utils.data import Dataset
import mmmeta  # noqa: F401
from mmmeta import launch
from mmengine.config import Config
from mmengine.model import BaseModel, MMDistributedDataParallel
from mmengine.registry import DATASETS, MODELS
from mmengine.runner import Runner


@MODELS.register_module()
class LaunchToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels, mode='tensor'):
        out = self.linear(inputs)
        return dict(loss=((out - labels) ** 2).mean()) if mode == 'loss' else out


@DATASETS.register_module()
class LaunchToyDataset(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.full((2,), float(i)), labels=torch.ones(1))


launch.init_distributed('pytorch')
rank = dist.get_rank()
value = torch.tensor([rank + 1.0])
dist.all_reduce(value)
assert value.item() == 3.0, value

cfg = Config(dict(
    model=dict(type='LaunchToyModel'),
    work_dir=sys.argv[1],
    launcher='pytorch',
    train_dataloader=dict(batch_size=2, num_workers=0,
                          sampler=dict(type='DefaultSampler', shuffle=True),
                          collate_fn=dict(type='default_collate'),
                          dataset=dict(type='LaunchToyDataset')),
    train_cfg=dict(by_epoch=False, max_iters=2),
    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
    default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
    env_cfg=dict(dist_cfg=dict(backend='nccl')),
))
launch.adapt_cfg_for_device(cfg, distributed=True)
assert cfg.model_wrapper_cfg.device_ids is None and cfg.env_cfg.dist_cfg.backend == 'gloo'
runner = launch.build_runner(cfg)
runner.train()
assert isinstance(runner.model, MMDistributedDataParallel), type(runner.model)
assert runner.iter == 2 and runner.world_size == 2
print(f'RANK {rank} DONE', flush=True)
'''


def test_torchrun_two_cpu_processes(tmp_path):
    script = tmp_path / 'dist_toy.py'
    script.write_text(DIST_SCRIPT)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]))
    env.pop('LOCAL_RANK', None)
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
         '2', str(script), str(tmp_path / 'work')],
        env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert 'RANK 0 DONE' in output and 'RANK 1 DONE' in output, output[-4000:]
    assert (tmp_path / 'work' / 'iter_2.pth').is_file()


# ----------------------------------------------------------------------------------------------
# Checkpoints under torch's weights_only loader (after `import mmmeta`)
# ----------------------------------------------------------------------------------------------
class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels, mode='tensor'):
        out = self.linear(inputs)
        return dict(loss=((out - labels) ** 2).mean()) if mode == 'loss' else out


class ToyDataset(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.full((2,), float(i)), labels=torch.ones(1))


class EpochCounter(Hook):
    def __init__(self):
        self.epochs = []

    def before_train_epoch(self, runner):
        self.epochs.append(runner.epoch)


def toy_runner(work_dir: Path, name: str, max_epochs: int, **kwargs) -> Runner:
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        experiment_name=f'{name}_{os.getpid()}_{id(work_dir)}',
        train_dataloader=dict(batch_size=2, num_workers=0, dataset=ToyDataset(),
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        **kwargs)


@pytest.fixture
def trained(tmp_path):
    """A work_dir with epoch_1.pth and epoch_2.pth saved by CheckpointHook."""
    runner = toy_runner(tmp_path, 'first', max_epochs=2)
    runner.train()
    assert (tmp_path / 'epoch_2.pth').is_file()
    return tmp_path, {k: v.clone() for k, v in runner.model.state_dict().items()}


def test_checkpoint_loads_with_weights_only_default(trained):
    work_dir, _ = trained
    ckpt = torch.load(work_dir / 'epoch_2.pth')  # torch >= 2.6: weights_only=True
    assert ckpt['meta']['epoch'] == 2 and 'message_hub' in ckpt
    torch.load(work_dir / 'epoch_2.pth', weights_only=True)


@pytest.mark.parametrize('resume_from', ['auto', 'epoch_1.pth'])
def test_resume(trained, resume_from):
    work_dir, _ = trained
    counter = EpochCounter()
    load_from = None if resume_from == 'auto' else str(work_dir / resume_from)
    runner = toy_runner(work_dir, f'resume_{resume_from}', max_epochs=3, resume=True,
                        load_from=load_from, custom_hooks=[counter])
    runner.train()
    # auto resumes after epoch 2 (trains epoch 3 only); epoch_1.pth trains epochs 2 and 3.
    assert counter.epochs == ([2] if resume_from == 'auto' else [1, 2])
    assert runner.epoch == 3 and (work_dir / 'epoch_3.pth').is_file()


def test_load_from(trained):
    work_dir, weights = trained
    runner = toy_runner(work_dir, 'load', max_epochs=1, load_from=str(work_dir / 'epoch_2.pth'))
    runner.load_or_resume()
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, weights[key]), key


class Arbitrary:
    """A class that is not on torch's allow-list."""

    def __init__(self):
        self.payload = 'data'


class SystemCall:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class GetattrEscape:
    """Abuses the getattr stand-in that compat maps for HistoryBuffer checkpoints."""

    def __init__(self, target, name: str):
        self.target, self.name = target, name

    def __reduce__(self):
        return (getattr, (self.target, self.name))


def _history_buffer():
    from mmengine.logging.history_buffer import HistoryBuffer
    return HistoryBuffer


@pytest.mark.parametrize('make_payload', [
    lambda marker: Arbitrary(),
    lambda marker: os.system,
    lambda marker: SystemCall(f'touch {marker}'),
    lambda marker: GetattrEscape(_history_buffer(), '__init__'),
    lambda marker: GetattrEscape(np.ndarray, 'tofile'),
], ids=['class-instance', 'os.system', 'reduce-os.system', 'getattr-dunder', 'getattr-other'])
def test_arbitrary_objects_still_refused(tmp_path, make_payload):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'extra': make_payload(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert not marker.exists()


# ----------------------------------------------------------------------------------------------
# The tools themselves: clear message, exit status 1, no traceback
# ----------------------------------------------------------------------------------------------
def run_tool(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    env.pop('PYTHONPATH', None)  # the tools must find mmmeta by themselves
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_tools_report_missing_files_without_traceback(tmp_path, det_cfg_file):
    proc = run_tool(str(ROOT / 'tools' / 'train.py'), 'configs/nope.py', cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert 'config file not found' in proc.stderr and 'Traceback' not in proc.stderr
    proc = run_tool(str(ROOT / 'tools' / 'test.py'), str(det_cfg_file), 'nope.pth',
                    cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert 'checkpoint file not found' in proc.stderr and 'Traceback' not in proc.stderr
