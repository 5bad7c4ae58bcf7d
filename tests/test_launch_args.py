"""mmmeta.launch.args: the arguments of tools/train.py and tools/test.py and the config edits
they make (work dir, launcher, --cfg-options, --resume, --amp, --auto-scale-lr, --show,
--tta, --out)."""
import os

import pytest
import torch
from launch_helpers import (
    config_for_test,
    config_for_train,
    det_config_text,
    error_of,
    make_coco,
    set_accelerator,
)

from mmmeta.launch import args as launch_args
from mmmeta.launch import checks, device


@pytest.mark.unit
def test_work_dir_default_cli_and_config(det_cfg_file, tmp_path):
    assert config_for_train([det_cfg_file]).work_dir == './work_dirs/retinanet_toy_coco'
    cfg = config_for_train([det_cfg_file, '--work-dir', tmp_path / 'w'])
    assert cfg.work_dir == str(tmp_path / 'w')
    cfg = config_for_train([det_cfg_file, '--cfg-options', 'work_dir=from_cfg'])
    assert cfg.work_dir == 'from_cfg'


@pytest.mark.unit
def test_launcher_and_cfg_options(det_cfg_file):
    cfg = config_for_train([det_cfg_file, '--launcher', 'pytorch', '--cfg-options',
                     'train_dataloader.batch_size=3', 'model.backbone.arch=s24'])
    assert cfg.launcher == 'pytorch'
    assert cfg.train_dataloader.batch_size == 3
    assert cfg.model.backbone.arch == 's24'
    assert config_for_train([det_cfg_file]).launcher == 'none'


@pytest.mark.unit
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


@pytest.mark.unit
def test_resume_missing_checkpoint(det_cfg_file, tmp_path):
    with pytest.raises(SystemExit) as exc:
        config_for_train([det_cfg_file, '--resume', tmp_path / 'nope.pth'])
    assert 'checkpoint file not found' in error_of(exc) and 'nope.pth' in error_of(exc)
    assert '--resume' in error_of(exc)


@pytest.mark.unit
def test_auto_scale_lr(det_cfg_file, seg_cfg_file):
    assert config_for_train([det_cfg_file, '--auto-scale-lr']).auto_scale_lr.enable is True
    with pytest.raises(SystemExit) as exc:
        config_for_train([seg_cfg_file, '--auto-scale-lr'])
    assert 'auto_scale_lr' in error_of(exc) and 'base_batch_size' in error_of(exc)


@pytest.mark.unit
def test_amp_on_cpu_fails_early_with_clear_message(det_cfg_file, cpu_only):
    with pytest.raises(SystemExit) as exc:
        config_for_train([det_cfg_file, '--amp'])
    msg = error_of(exc)
    assert '--amp' in msg and 'GPU' in msg and 'Traceback' not in msg


@pytest.mark.unit
def test_amp_in_config_on_cpu_fails(det_cfg_file, cpu_only):
    cfg = config_for_train([det_cfg_file, '--cfg-options', 'optim_wrapper.type=AmpOptimWrapper'])
    with pytest.raises(SystemExit) as exc:
        checks.check_run(cfg, 'train')
    assert 'AmpOptimWrapper' in error_of(exc) and 'GPU' in error_of(exc)
    checks.check_run(cfg, 'test')  # testing an AMP config on CPU is fine (no optimizer)


@pytest.mark.unit
def test_amp_with_gpu_sets_amp_optim_wrapper(det_cfg_file, monkeypatch):
    set_accelerator(monkeypatch, True)
    cfg = config_for_train([det_cfg_file, '--amp'])
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    device.check_amp_supported(cfg)  # no error where a GPU is available


@pytest.mark.unit
def test_local_rank_alias_sets_env(det_cfg_file, monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', 'x')
    monkeypatch.delenv('LOCAL_RANK')
    launch_args.parse_args(launch_args.build_train_parser(),
                           [str(det_cfg_file), '--local_rank', '3'])
    assert os.environ['LOCAL_RANK'] == '3'
    args = launch_args.build_test_parser().parse_args(['c.py', 'k.pth', '--local-rank', '1'])
    assert args.local_rank == 1


@pytest.mark.unit
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


@pytest.mark.unit
def test_test_out_must_be_pickle_for_mmdet(det_cfg_file, ckpt_file):
    with pytest.raises(SystemExit) as exc:
        config_for_test([det_cfg_file, ckpt_file, '--out', 'results.json'])
    assert '.pkl' in error_of(exc)


@pytest.mark.unit
def test_test_args_mmseg(seg_cfg_file, ckpt_file, tmp_path):
    cfg = config_for_test([seg_cfg_file, ckpt_file, '--out', tmp_path / 'pred',
                    '--show-dir', tmp_path / 'vis'])
    assert cfg.test_evaluator.output_dir == str(tmp_path / 'pred')
    assert cfg.test_evaluator.keep_results is True
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.visualizer.save_dir == str(tmp_path / 'vis')


@pytest.mark.unit
def test_tta_mmdet_and_mmseg(det_cfg_file, seg_cfg_file, ckpt_file):
    cfg = config_for_test([det_cfg_file, ckpt_file, '--tta'])
    assert cfg.model.type == 'DetTTAModel' and cfg.model.module.type == 'RetinaNet'
    assert cfg.test_dataloader.dataset.pipeline[-1].type == 'TestTimeAug'
    cfg = config_for_test([seg_cfg_file, ckpt_file, '--tta'])
    assert cfg.model.type == 'SegTTAModel' and cfg.model.module.type == 'EncoderDecoder'
    assert cfg.test_dataloader.dataset.pipeline[-1].type == 'TestTimeAug'


@pytest.mark.unit
def test_tta_without_tta_settings(tmp_path, ckpt_file):
    path = tmp_path / 'no_tta.py'
    path.write_text(det_config_text(str(make_coco(tmp_path / 'coco')), tta=False))
    with pytest.raises(SystemExit) as exc:
        config_for_test([path, ckpt_file, '--tta'])
    assert 'tta_model' in error_of(exc) and 'tta_pipeline' in error_of(exc)


@pytest.mark.unit
@pytest.mark.parametrize('wrapper', ['RepeatDataset', 'ConcatDataset'])
def test_tta_reaches_wrapped_test_datasets(tmp_path, ckpt_file, wrapper):
    """--tta puts the TTA pipeline on the datasets that read files, inside wrappers (as
    upstream mmdet walks `dataset.dataset`), not on the wrapper."""
    inner = "dict(type='CocoDataset', pipeline=[], batch_shapes_cfg=dict(size=8))"
    wrapped = (f"dict(type='RepeatDataset', times=2, dataset={inner})" if wrapper ==
               'RepeatDataset' else f"dict(type='ConcatDataset', datasets=[{inner}, {inner}])")
    path = tmp_path / 'wrapped.py'
    path.write_text(det_config_text(str(make_coco(tmp_path / 'coco')))
                    + f'test_dataloader = dict(batch_size=1, dataset={wrapped})\n')
    cfg = config_for_test([path, ckpt_file, '--tta'])
    dataset = cfg.test_dataloader.dataset
    leaves = [dataset.dataset] if wrapper == 'RepeatDataset' else dataset.datasets
    assert 'pipeline' not in dataset and len(leaves) == (1 if wrapper == 'RepeatDataset' else 2)
    for leaf in leaves:
        assert leaf.pipeline[-1].type == 'TestTimeAug'
        assert leaf.batch_shapes_cfg is None  # fixes the image size: not compatible with TTA
