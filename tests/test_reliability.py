"""Reliability (issue #13): nothing lost on a kill or a divergence, no silent wrong evaluation,
one clear sentence for every bad file and flag.

* Kill mid-save (fault injection: the save writes half the file, then the process dies) and
  ``--resume``: the final weights equal those of an uninterrupted run bit for bit; a
  ``last_checkpoint`` naming a missing or partial file falls back to the newest complete one.
* NaN injection: the run stops with one sentence naming the iteration and the last good
  checkpoint, exit status 1, and no non-finite checkpoint is ever written.
* Strict loading: a checkpoint of another model, or a backbone-only file, is refused as
  CHECKPOINT with what the file is and the fix; ``--allow-partial`` loads part on purpose.
* Broken files (empty, truncated .pth / .safetensors, a PNG, refused pickle) at every entry.
* Bad flags and inputs: one ``error:`` line and exit status 1, the traceback only on request.
* Two gloo processes with batch b equal one process with batch 2b.

Everything is tiny (32x32 images, one block per stage, batch 1-2, a few iterations).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Dict, List

import pytest
import torch

import mmmeta  # noqa: F401  (hooks, checkpoint loader, compat)
from mmmeta import cli, launch
from mmmeta.checkpoint import CheckpointError, load_pretrained
from mmmeta.files import (
    CheckpointFileError,
    atomic_write_text,
    checkpoint_problem,
    load_checkpoint_file,
)

from helpers import ROOT, run_python, run_tool

pytest.importorskip('mmpretrain')

# layers: per test (unit: in-process library checks; e2e: the tools, in-process or as
# subprocesses; slow: a subprocess or a training run)

CLS_DEMO = ROOT / 'configs' / 'demo' / 'cls_poolformer_s12_demo.py'
RETINANET_DEMO = ROOT / 'configs' / 'demo' / 'retinanet_poolformer_s12_demo.py'
FPN_DEMO = ROOT / 'configs' / 'demo' / 'fpn_poolformer_s12_demo.py'
DEMO_BACKBONE = ROOT / 'checkpoints' / 'demo' / 'poolformer_s12_shapes.safetensors'
# the synthetic data sets (conftest.py fixtures cls_root, ade_root, coco_root)
CLS_DATA = dict(num_train=8, num_val=2, size=(32, 32), seed=0)
ADE_DATA = dict(num_train=2, num_val=2, size=(64, 64), seed=0)
COCO_DATA = dict(num_train=2, num_val=2, size=(64, 64), seed=0)


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def one_error_line(output: str) -> str:
    """The single ``error:`` line of a tool that failed cleanly (and no traceback)."""
    assert 'Traceback' not in output, output[-4000:]
    lines = [line for line in output.splitlines() if line.startswith('error: ')]
    assert len(lines) == 1, output[-4000:]
    return lines[0]


def cls_config(path: Path, data_root: Path, batch: int = 2, max_iters: int = 4,
               load: str = "dict(type='LoadImageFromFile')") -> Path:
    """The classification demo made tiny and deterministic (no flip, no shuffle, SGD)."""
    path.write_text(textwrap.dedent(f"""
        _base_ = {str(CLS_DEMO)!r}
        data_root = {str(data_root)!r}
        model = dict(backbone=dict(depths=[1, 1, 1, 1], init_cfg=None))
        pipeline = [{load}, dict(type='PackInputs')]
        train_dataloader = dict(
            batch_size={batch}, num_workers=0, persistent_workers=False,
            sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=False),
            dataset=dict(data_root=data_root, pipeline=pipeline))
        val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                              dataset=dict(data_root=data_root, pipeline=pipeline))
        test_dataloader = val_dataloader
        train_cfg = dict(max_iters={max_iters}, val_interval=1000)
        optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                             optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
        param_scheduler = []  # constant lr: the weights move visibly in a few iterations
        default_hooks = dict(logger=dict(interval=1),
                             checkpoint=dict(interval=1, max_keep_ckpts=2))
        randomness = dict(seed=0, deterministic=True)
        """))
    return path


def logged(work_dir: Path) -> str:
    """What a tool run in-process logged: the Runner's log file(s) under ``work_dir``
    (<work_dir>/<timestamp>/<timestamp>.log), which hold every message of its logger."""
    return ''.join(p.read_text() for p in sorted(work_dir.glob('*/*.log')))


def train_in_process(argv: List, log_file: Path):
    """tools/train.py's entry point in this process, returning the Runner, arithmetic as in
    run_tool's subprocesses (one thread, so the weights can be compared bit for bit with
    theirs). Messages logged before the Runner (and its own log file) exists go to the current
    MMLogger: a fresh one writing ``log_file``."""
    from mmengine.logging import MMLogger
    MMLogger.get_instance(f'reliability_{uuid.uuid4().hex}', log_file=str(log_file))  # new
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return launch.main_train([str(a) for a in argv])
    finally:
        torch.set_num_threads(threads)


def weights(path: Path) -> Dict[str, torch.Tensor]:
    return torch.load(path, map_location='cpu')['state_dict']


def assert_bit_identical(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# A wrapper of tools/train.py that kills the process in the middle of writing the checkpoint
# whose file name contains KILL_AT: half the bytes are written, then os._exit (no cleanup, no
# flush of anything else), as a SIGKILL or a power cut would leave it.
KILL_MID_SAVE = '''
import os, sys
sys.path.insert(0, {root!r})
from mmengine.fileio.backends import local_backend
original_put = local_backend.LocalBackend.put

def put(self, obj, filepath):
    if {kill_at!r} in os.path.basename(str(filepath)):
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
        os._exit(137)
    return original_put(self, obj, filepath)

local_backend.LocalBackend.put = put
from mmmeta import launch
launch.main_train(sys.argv[1:])
'''

# A wrapper of tools/train.py whose losses become NaN from the NAN_FROM-th iteration on.
NAN_FROM = '''
import sys
sys.path.insert(0, {root!r})
from mmengine.model import BaseModel
original = BaseModel.parse_losses
calls = [0]

def parse_losses(self, losses):
    calls[0] += 1
    if calls[0] >= {nan_from}:
        losses = {{k: v * float('nan') for k, v in losses.items()}}
    return original(self, losses)

BaseModel.parse_losses = parse_losses
from mmmeta import launch
launch.main_train(sys.argv[1:])
'''


# ----------------------------------------------------------------------------------------------
# 1. Crash-safe checkpoints: kill mid-save, then --resume
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def uninterrupted(cls_root, tmp_path_factory):
    """A 4-iteration run started with `--resume` in an empty work dir (nothing to resume)."""
    tmp = tmp_path_factory.mktemp('uninterrupted')
    config = cls_config(tmp / 'cls_tiny.py', cls_root)
    work = tmp / 'work'
    proc = run_tool('train.py', config, '--work-dir', work, '--resume', cwd=tmp)
    assert proc.returncode == 0, proc.output[-6000:]
    return dict(config=config, work=work, output=proc.output,
                final=weights(work / 'iter_4.pth'))


@pytest.mark.e2e
@pytest.mark.slow
def test_resume_with_nothing_to_resume_says_so(uninterrupted):
    out = uninterrupted['output']
    line = next(line for line in out.splitlines() if '--resume: nothing to resume' in line)
    assert 'training starts from the beginning' in line
    assert out.index('--resume: nothing to resume') < out.index('Iter(train) [1/4]')


@pytest.mark.e2e
@pytest.mark.slow
def test_checkpoints_are_complete_and_old_ones_deleted_after(uninterrupted):
    work = uninterrupted['work']
    assert sorted(p.name for p in work.glob('iter_*.pth')) == ['iter_3.pth', 'iter_4.pth']
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_4.pth')
    assert not list(work.glob('.tmp-*'))
    assert checkpoint_problem(str(work / 'iter_4.pth')) is None


@pytest.mark.e2e
@pytest.mark.slow
def test_kill_mid_save_then_resume_is_bit_identical(uninterrupted, tmp_path):
    config, work = uninterrupted['config'], tmp_path / 'work'
    script = tmp_path / 'train_killed.py'
    script.write_text(KILL_MID_SAVE.format(root=str(ROOT), kill_at='iter_3'))
    proc = run_python(script, config, '--work-dir', work, cwd=tmp_path)
    assert proc.returncode == 137, proc.output[-6000:]
    # the half-written file never got a checkpoint's name; nothing older was deleted yet
    assert not (work / 'iter_3.pth').exists()
    assert [p.name for p in work.glob('.tmp-iter_3.pth.*')], list(work.iterdir())
    assert (work / 'iter_1.pth').is_file() and (work / 'iter_2.pth').is_file()
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_2.pth')

    proc = run_tool('train.py', config, '--work-dir', work, '--resume', cwd=tmp_path)
    assert proc.returncode == 0, proc.output[-6000:]
    assert re.search(r'resumed epoch: \d+, iter: 2\b', proc.output), proc.output[-6000:]
    assert not list(work.glob('.tmp-*')), 'stale temporary file left behind'
    assert_bit_identical(weights(work / 'iter_4.pth'), uninterrupted['final'])


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize('damage', ['missing', 'truncated'])
def test_resume_falls_back_to_newest_complete_checkpoint(uninterrupted, tmp_path, damage):
    """last_checkpoint names iter_4.pth, which is gone or partial: resume from iter_3.pth,
    say so, and reach the same weights as the uninterrupted run."""
    work = tmp_path / 'work'
    shutil.copytree(uninterrupted['work'], work)
    atomic_write_text(str(work / 'last_checkpoint'), str(work / 'iter_4.pth'))
    last = work / 'iter_4.pth'
    if damage == 'missing':
        last.unlink()
    else:
        data = last.read_bytes()
        last.write_bytes(data[:len(data) // 2] if damage == 'truncated' else b'')
    # tools/train.py's entry point in-process (the real --resume subprocesses are the
    # uninterrupted run and the resume after the kill above)
    runner = train_in_process([uninterrupted['config'], '--work-dir', work, '--resume'],
                              tmp_path / 'before_runner.log')
    output = (tmp_path / 'before_runner.log').read_text()
    assert runner.iter == 4
    assert f'resuming from the newest complete checkpoint, {work / "iter_3.pth"}' in \
        output, output[-6000:]
    assert_bit_identical(weights(work / 'iter_4.pth'), uninterrupted['final'])


@pytest.mark.unit
def test_find_resume_checkpoint(tmp_path):
    """Which file --resume picks (no training: the cases the runs above do not cover)."""
    for step in (1, 2, 10):
        torch.save({'state_dict': {}}, tmp_path / f'iter_{step}.pth')
    (tmp_path / 'iter_10.pth').write_bytes(b'')  # empty, and newest
    atomic_write_text(str(tmp_path / 'last_checkpoint'), str(tmp_path / 'iter_10.pth'))
    path, note = launch.find_resume_checkpoint(str(tmp_path))
    assert path == str(tmp_path / 'iter_2.pth')  # by step number, not by name order
    assert 'iter_10.pth, but it is empty (0 bytes)' in note
    (tmp_path / 'last_checkpoint').unlink()  # no marker at all: newest complete file
    path, note = launch.find_resume_checkpoint(str(tmp_path))
    assert path == str(tmp_path / 'iter_2.pth') and 'there is no' in note
    for step in (1, 2):
        (tmp_path / f'iter_{step}.pth').unlink()
    assert launch.find_resume_checkpoint(str(tmp_path))[0] is None


@pytest.mark.e2e
@pytest.mark.slow
def test_resume_explicit_partial_file_is_refused(uninterrupted, tmp_path):
    work = tmp_path / 'work'
    shutil.copytree(uninterrupted['work'], work)
    data = (work / 'iter_4.pth').read_bytes()
    (work / 'iter_4.pth').write_bytes(data[:1000])
    with pytest.raises(SystemExit) as err:
        launch.apply_train_args(launch.load_config(str(uninterrupted['config'])),
                                launch.build_train_parser().parse_args(
                                    [str(uninterrupted['config']), '--work-dir', str(work),
                                     '--resume', str(work / 'iter_4.pth')]))
    message = str(err.value.code)
    assert 'truncated or damaged' in message and str(work / 'iter_3.pth') in message


@pytest.mark.unit
def test_safe_checkpoint_hook_is_registered_for_every_library():
    from mmengine.registry import HOOKS

    from mmmeta.hooks import DivergenceGuardHook, SafeCheckpointHook
    for scope in ('mmdet', 'mmseg', 'mmpretrain'):
        pytest.importorskip(scope)
        with HOOKS.switch_scope_and_registry(scope) as registry:
            assert registry.get('SafeCheckpointHook') is SafeCheckpointHook
            assert registry.get('DivergenceGuardHook') is DivergenceGuardHook
            assert registry.get('mmmeta.SafeCheckpointHook') is SafeCheckpointHook


@pytest.mark.slow
def test_every_config_uses_the_safe_hooks():
    from mmengine.config import Config
    configs = sorted((ROOT / 'configs').glob('*.py')) + sorted(
        (ROOT / 'configs' / 'demo').glob('*.py'))
    assert len(configs) > 20
    for path in configs:
        hooks = Config.fromfile(str(path)).default_hooks
        assert hooks.checkpoint.type == 'SafeCheckpointHook', path
        assert hooks.divergence.type == 'DivergenceGuardHook', path


@pytest.mark.unit
def test_atomic_write_leaves_old_file_on_error(tmp_path):
    path = tmp_path / 'last_checkpoint'
    atomic_write_text(str(path), 'old')

    def broken(tmp):
        Path(tmp).write_text('half')
        raise OSError('disk full')

    from mmmeta.files import atomic_write
    with pytest.raises(OSError):
        atomic_write(str(path), broken)
    assert path.read_text() == 'old' and len(list(tmp_path.iterdir())) == 1


# ----------------------------------------------------------------------------------------------
# 2. Divergence guard
# ----------------------------------------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.slow
def test_nan_loss_stops_with_one_sentence(cls_root, tmp_path):
    config = cls_config(tmp_path / 'cls_tiny.py', cls_root)
    script = tmp_path / 'train_nan.py'
    script.write_text(NAN_FROM.format(root=str(ROOT), nan_from=3))
    work = tmp_path / 'work'
    proc = run_python(script, config, '--work-dir', work, cwd=tmp_path)
    assert proc.returncode == 1, proc.output[-6000:]
    line = one_error_line(proc.output)
    assert 'training diverged at iteration 3' in line, line
    assert f'the last good checkpoint is {work / "iter_2.pth"}' in line, line
    assert not (work / 'iter_3.pth').exists()
    assert all(torch.isfinite(v).all() for v in weights(work / 'iter_2.pth').values()
               if v.is_floating_point())


@pytest.mark.e2e
@pytest.mark.slow
def test_checkpoint_hook_never_saves_nonfinite_weights(cls_root, tmp_path):
    """Without the guard, the checkpoint hook itself refuses to write NaN weights."""
    config = cls_config(tmp_path / 'cls_tiny.py', cls_root)
    script = tmp_path / 'train_nan.py'
    script.write_text(NAN_FROM.format(root=str(ROOT), nan_from=3))
    work = tmp_path / 'work'
    proc = run_python(script, config, '--work-dir', work, '--cfg-options',
                      'default_hooks.divergence=None', cwd=tmp_path)
    assert proc.returncode == 1, proc.output[-6000:]
    line = one_error_line(proc.output)
    assert 'the model weights hold NaN/Inf at iteration 3' in line, line
    assert 'no checkpoint was written' in line and str(work / 'iter_2.pth') in line, line
    assert not (work / 'iter_3.pth').exists()
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_2.pth')


class _Scalar:
    def __init__(self, value):
        self.value = value

    def current(self):
        return self.value


class _FakeRunner:
    """What DivergenceGuardHook reads from a Runner."""

    def __init__(self, model, grad_norm=None):
        from mmengine.logging import MMLogger
        self.model, self.iter, self.work_dir = model, 0, '/nonexistent'
        self.logger = MMLogger.get_instance('divergence_test')

        class Hub:
            log_scalars = {} if grad_norm is None else {'train/grad_norm': _Scalar(grad_norm)}

            @staticmethod
            def get_info(key, default=None):
                return '/work/iter_7.pth' if key == 'last_ckpt' else default
        self.message_hub = Hub()


@pytest.mark.unit
def test_guard_tolerates_skipped_steps_while_weights_are_finite():
    from mmmeta.hooks import DivergenceError, DivergenceGuardHook
    hook = DivergenceGuardHook(max_skipped_steps=2)
    runner = _FakeRunner(torch.nn.Linear(2, 2))
    nan = dict(loss=torch.tensor(float('nan')))
    hook.before_train(runner)
    for i in range(2):  # an AMP loss scaler skipping two overflowing steps
        runner.iter = i
        hook.after_train_iter(runner, i, None, nan)
    runner.iter = 2
    hook.after_train_iter(runner, 2, None, dict(loss=torch.tensor(1.0)))  # resets the count
    assert hook.skipped == 0
    for i in (3, 4):
        runner.iter = i
        hook.after_train_iter(runner, i, None, nan)
    runner.iter = 5
    with pytest.raises(DivergenceError, match=r'iteration 6: loss = nan and 3 steps in a row.*'
                       r'last good checkpoint is /work/iter_7.pth'):
        hook.after_train_iter(runner, 5, None, nan)


@pytest.mark.unit
def test_guard_stops_at_once_when_weights_are_damaged_or_grad_norm_is_inf():
    from mmmeta.hooks import DivergenceError, DivergenceGuardHook
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight[0, 0] = float('inf')
    with pytest.raises(DivergenceError, match='weights now hold NaN/Inf'):
        DivergenceGuardHook(max_skipped_steps=5).after_train_iter(
            _FakeRunner(model), 0, None, dict(loss=torch.tensor(float('nan'))))
    with pytest.raises(DivergenceError, match='grad norm = inf'):
        DivergenceGuardHook(max_skipped_steps=0).after_train_iter(
            _FakeRunner(torch.nn.Linear(2, 2), grad_norm=float('inf')), 0, None,
            dict(loss=torch.tensor(1.0)))
    with pytest.raises(ValueError, match='max_skipped_steps'):
        DivergenceGuardHook(max_skipped_steps=-1)


# ----------------------------------------------------------------------------------------------
# 3. Strict, explained loading (load_from / tools/test.py CHECKPOINT)
# ----------------------------------------------------------------------------------------------
def loader_options(root: Path, evaluators: bool) -> List[str]:
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={root}/', f'{loader}.batch_size=1',
                 f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
    if evaluators:
        ann = f'{root}/annotations/instances_val.json'
        opts += [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}']
    return opts


TINY_BACKBONE = ['model.backbone.depths=[1,1,1,1]', 'model.backbone.init_cfg=None']


def build_model(config: Path, options: List[str]) -> torch.nn.Module:
    from mmengine.registry import MODELS, init_default_scope
    cfg = launch.load_config(str(config))
    cfg.merge_from_dict(dict(o.split('=', 1) for o in options), allow_list_keys=True)
    cfg.model.backbone.depths = [1, 1, 1, 1]
    launch.init_library(cfg)
    init_default_scope(cfg.default_scope)
    with MODELS.switch_scope_and_registry(cfg.default_scope) as registry:
        return registry.build(cfg.model)


@pytest.fixture(scope='module')
def retinanet_ckpt(tmp_path_factory) -> Path:
    """A RetinaNet (one block per stage) checkpoint, as tools/train.py would save it."""
    model = build_model(RETINANET_DEMO, ['model.backbone.init_cfg=None'])
    path = tmp_path_factory.mktemp('retinanet') / 'retinanet_tiny.pth'
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, path)
    return path


@pytest.mark.e2e
@pytest.mark.slow
def test_detector_checkpoint_on_segmentor_is_refused(retinanet_ckpt, ade_root, tmp_path):
    """Was: mIoU 6.25 and exit status 0 (a random decode head)."""
    options = loader_options(ade_root, evaluators=False) + TINY_BACKBONE + [
        'test_dataloader.dataset.pipeline.1.scale=(64,64)']  # the data's size, not 640x320
    proc = run_tool('test.py', FPN_DEMO, retinanet_ckpt, '--work-dir', tmp_path / 'w',
                    '--cfg-options', *options, cwd=tmp_path)
    assert proc.returncode == 1, proc.output[-6000:]
    line = one_error_line(proc.output)
    assert re.search(r'fills \d+ of the \d+ tensors of the model', line), line
    missing, unused = line.split('unused in the file:')
    assert 'decode_head.* (' in missing and 'bbox_head.* (' in unused, line
    assert 'one-stage detector (bbox_head)' in line and 'EncoderDecoder' in line, line
    assert '--allow-partial' in line and not re.search(r'mIoU: \d', proc.output)

    # --allow-partial loads the matching part and evaluates: tools/test.py's entry point
    # in-process (the exit status and the error line are the subprocess's part above)
    work = tmp_path / 'w2'
    metrics = launch.main_test([str(FPN_DEMO), str(retinanet_ckpt), '--work-dir', str(work),
                                '--allow-partial', '--cfg-options', *options])
    log = logged(work)
    assert 'Loading only the matching tensors (--allow-partial)' in log, log[-4000:]
    assert re.search(r'mIoU: \d', log) and 'mIoU' in metrics, log[-4000:]


@pytest.mark.e2e
@pytest.mark.slow
def test_backbone_file_as_checkpoint_is_refused(coco_root, tmp_path):
    """Was: 0 tensors loaded, mAP 0.000, exit status 0."""
    proc = run_tool('test.py', RETINANET_DEMO, DEMO_BACKBONE, '--work-dir', tmp_path / 'w',
                    '--cfg-options', *loader_options(coco_root, evaluators=True),
                    cwd=tmp_path)
    assert proc.returncode == 1, proc.output[-6000:]
    line = one_error_line(proc.output)
    assert 'is a backbone-only file: a MetaFormer backbone of depths (2, 2, 6, 2)' in line
    assert 'like poolformer_s12' in line and 'model.backbone.init_cfg' in line, line
    assert '--allow-partial' in line and not re.search(r'mAP: \d', proc.output)


@pytest.mark.slow
def test_backbone_file_as_load_from_goes_into_the_backbone():
    cfg = launch.load_config(str(RETINANET_DEMO))
    cfg.load_from = str(DEMO_BACKBONE)
    assert launch.read_load_from(cfg, 'train', allow_partial=False) is None
    assert cfg.load_from is None
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=str(DEMO_BACKBONE))


@pytest.mark.e2e
@pytest.mark.slow
def test_load_from_in_training_must_fit(uninterrupted, tmp_path):
    """The Runner is built and the file checked before any training step."""
    def prepared(load_from, *flags):
        argv = [str(uninterrupted['config']), '--work-dir', str(tmp_path / 'w'), *flags]
        args = launch.build_train_parser().parse_args(argv)
        cfg = launch.apply_train_args(launch.load_config(argv[0]), args)
        cfg.load_from = str(load_from)
        return launch.prepare(cfg, 'train', args.allow_partial)

    assert prepared(uninterrupted['work'] / 'iter_4.pth').iter == 0  # fits: accepted
    state = weights(uninterrupted['work'] / 'iter_4.pth')
    headless = tmp_path / 'headless.pth'
    torch.save({'state_dict': {k: v for k, v in state.items() if not k.startswith('head.')}},
               headless)
    with pytest.raises(CheckpointError, match=r'load_from \S+ fills \d+ of the \d+ tensors '
                       r'of the model \(missing head\.\* \(2\)\)\. The file is a backbone '
                       r'alone \(keys under backbone\.\): a MetaFormer backbone'):
        prepared(headless)
    prepared(headless, '--allow-partial')


@pytest.mark.slow
def test_checkpoint_fits_report(retinanet_ckpt):
    from mmmeta.load_check import check_checkpoint_fits, file_state
    model = build_model(RETINANET_DEMO, ['model.backbone.init_cfg=None'])
    state = file_state(load_checkpoint_file(str(retinanet_ckpt)))
    report = check_checkpoint_fits(model, state, str(retinanet_ckpt), 'load_from', False)
    assert re.fullmatch(r'load_from \S+: all \d+ tensors of the model loaded', report), report
    # a classifier's checkpoint (backbone + head) on the detector
    classifier = {k: v for k, v in state.items() if k.startswith('backbone.')}
    classifier['head.fc.weight'] = torch.zeros(4, 512)
    with pytest.raises(CheckpointError, match=r'fills \d+ of .*a classifier \(head\) with a '
                       r'MetaFormer backbone of depths \(1, 1, 1, 1\)'):
        check_checkpoint_fits(model, classifier, 'cls.pth', 'load_from', False)


# ----------------------------------------------------------------------------------------------
# 4. One sentence for every broken file, at every entry
# ----------------------------------------------------------------------------------------------
class Arbitrary:
    """Not on torch's allow-list: a file holding it must be refused, never executed."""


def make_broken_files(folder: Path) -> Dict[str, Path]:
    from safetensors.torch import save_file
    folder.mkdir(parents=True, exist_ok=True)
    state = {'stem.conv.weight': torch.randn(64, 3, 7, 7), 'w': torch.randn(4096)}
    files = {}
    files['empty'] = folder / 'empty.pth'
    files['empty'].write_bytes(b'')
    torch.save({'state_dict': state}, folder / 'full.pth')
    data = (folder / 'full.pth').read_bytes()
    files['truncated_pth'] = folder / 'truncated.pth'
    files['truncated_pth'].write_bytes(data[:len(data) // 2])
    save_file(state, str(folder / 'full.safetensors'))
    data = (folder / 'full.safetensors').read_bytes()
    files['truncated_safetensors'] = folder / 'truncated.safetensors'
    files['truncated_safetensors'].write_bytes(data[:len(data) // 2])
    files['png'] = folder / 'image.pth'
    files['png'].write_bytes(b'\x89PNG\r\n\x1a\n' + bytes(200))
    files['pickle'] = folder / 'pickled.pth'
    torch.save({'state_dict': state, 'extra': Arbitrary()}, files['pickle'])
    return files


EXPECTED = {
    'empty': 'it is empty (0 bytes)',
    'truncated_pth': 'it is a truncated or damaged torch file',
    'truncated_safetensors': 'it is truncated',
    'png': 'it is a PNG image, not a checkpoint',
    'pickle': 'it holds pickled Python objects other than tensors',
}


def assert_one_sentence(message: str, path: Path, kind: str) -> None:
    assert EXPECTED[kind] in message, message
    assert str(path) in message and '\n' not in message.strip(), message
    assert 'weights_only=False' not in message
    fix = {'png': 'Point it at a .pth', 'pickle': 're-save only its weights'}.get(
        kind, 'Download or copy it again')
    assert fix in message, message


@pytest.fixture(scope='module')
def broken(tmp_path_factory) -> Dict[str, Path]:
    return make_broken_files(tmp_path_factory.mktemp('broken'))


@pytest.mark.slow
@pytest.mark.parametrize('kind', sorted(EXPECTED))
def test_broken_file_at_each_entry(broken, kind, tmp_path):
    from mmengine.runner.checkpoint import CheckpointLoader

    from mmmeta import MetaFormer
    from mmmeta.checkpoint import convert_file
    path = broken[kind]
    # backbone init_cfg
    backbone = MetaFormer('poolformer_s12', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointError) as err:
        backbone.init_weights()
    assert_one_sentence(str(err.value), path, kind)
    with pytest.raises(CheckpointError):
        load_pretrained(MetaFormer('poolformer_s12'), str(path))
    # load_from / --resume / CHECKPOINT: mmengine's loader for local files
    with pytest.raises(CheckpointFileError) as err:
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert_one_sentence(str(err.value), path, kind)
    # tools/convert_checkpoint.py
    with pytest.raises(CheckpointError) as err:
        convert_file(str(path), str(tmp_path / 'out.pth'))
    assert_one_sentence(str(err.value), path, kind)
    assert not (tmp_path / 'out.pth').exists()


@pytest.mark.e2e
@pytest.mark.parametrize('kind', sorted(EXPECTED))
def test_broken_checkpoint_for_tools_test(broken, kind, cls_root, tmp_path, capsys):
    config = cls_config(tmp_path / 'cls_tiny.py', cls_root)
    with pytest.raises(SystemExit) as exit_:
        launch.main_test([str(config), str(broken[kind]), '--work-dir', str(tmp_path / 'w')])
    assert exit_.value.code == 1
    line = one_error_line(capsys.readouterr().err)
    assert_one_sentence(line, broken[kind], kind)


@pytest.mark.e2e
@pytest.mark.parametrize('kind', ['empty', 'truncated_pth', 'png'])
def test_broken_checkpoint_for_resume(broken, kind, cls_root, tmp_path):
    config = cls_config(tmp_path / 'cls_tiny.py', cls_root)
    with pytest.raises(SystemExit) as err:
        launch.apply_train_args(launch.load_config(str(config)),
                                launch.build_train_parser().parse_args(
                                    [str(config), '--resume', str(broken[kind])]))
    assert EXPECTED[kind] in str(err.value.code) and str(broken[kind]) in str(err.value.code)


@pytest.mark.e2e
@pytest.mark.slow
def test_broken_file_tools_exit_cleanly(broken, cls_root, tmp_path):
    """The real tools (subprocesses): exit status 1, one error line, no traceback."""
    proc = run_tool('convert_checkpoint.py', broken['png'], tmp_path / 'out.pth', cwd=tmp_path)
    assert proc.returncode == 1 and 'Traceback' not in proc.output, proc.output[-4000:]
    assert EXPECTED['png'] in proc.output
    config = cls_config(tmp_path / 'cls_tiny.py', cls_root)
    proc = run_tool('test.py', config, broken['pickle'], '--work-dir', tmp_path / 'w',
                    cwd=tmp_path)
    assert proc.returncode == 1, proc.output[-4000:]
    assert_one_sentence(one_error_line(proc.output), broken['pickle'], 'pickle')


@pytest.mark.e2e
def test_refused_pickle_runs_no_code(tmp_path):
    marker = tmp_path / 'pwned'

    class Payload:
        def __reduce__(self):
            return (os.system, (f'touch {marker}',))

    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': Payload()}, path)
    from mmengine.runner.checkpoint import CheckpointLoader
    with pytest.raises(CheckpointFileError, match='pickled Python objects'):
        CheckpointLoader.load_checkpoint(str(path))
    with pytest.raises(CheckpointFileError):
        load_checkpoint_file(str(path))
    assert not marker.exists()


# ----------------------------------------------------------------------------------------------
# 5. Tools print one error line, not a traceback
# ----------------------------------------------------------------------------------------------
def train_error(argv: List[str], capsys) -> str:
    """Run tools/train.py's entry point in-process; return its one error line."""
    with pytest.raises(SystemExit) as exit_:
        launch.main_train([str(a) for a in argv])
    assert exit_.value.code not in (0, None)
    captured = capsys.readouterr()
    code = exit_.value.code
    return str(code) if isinstance(code, str) else one_error_line(captured.err)


@pytest.mark.e2e
def test_config_syntax_error_names_file_and_line(tmp_path, capsys):
    config = tmp_path / 'broken_cfg.py'
    config.write_text("model = dict(\n    type='X',,\n)\n")
    message = train_error([config], capsys)
    assert f'config file {config} has a Python syntax error on line 2' in message, message
    base = tmp_path / 'child.py'
    base.write_text("_base_ = ['broken_cfg.py']\n")
    message = train_error([base], capsys)
    assert f'{config} has a Python syntax error on line 2' in message, message


@pytest.mark.e2e
@pytest.mark.parametrize('item, expected', [
    ('train_cfg.max_iters', 'has no "="'),
    ('model.backbone.depths=[1,1,1', 'unbalanced brackets'),
    ('model.backbone.out_indices=(0,1', 'unbalanced brackets'),
    ('=3', 'invalid key'),
])
def test_bad_cfg_options(item, expected, cls_root, tmp_path, capsys):
    config = cls_config(tmp_path / 'cls_tiny.py', cls_root)
    message = train_error([config, '--cfg-options', item], capsys)
    assert expected in message and message.startswith('error: --cfg-options'), message


@pytest.mark.e2e
@pytest.mark.parametrize('item, expected', [
    ('train_cfg.max_itres=3', 'unknown config key train_cfg.max_itres: IterBasedTrainLoop '
     "takes no argument 'max_itres'; did you mean train_cfg.max_iters?"),
    ('default_hooks.logger.intervall=3', 'did you mean default_hooks.logger.interval or'),
    ('optim_wrapper.optimizer.lrr=0.1', 'did you mean optim_wrapper.optimizer.lr?'),
])
def test_unknown_config_keys(item, expected, cls_root, tmp_path, capsys):
    config = cls_config(tmp_path / 'cls_tiny.py', cls_root)
    message = train_error([config, '--work-dir', tmp_path / 'w', '--cfg-options', item], capsys)
    assert expected in message, message


@pytest.mark.slow
def test_every_config_passes_the_key_check():
    from mmengine.config import Config
    for path in sorted((ROOT / 'configs').glob('*.py')) + sorted(
            (ROOT / 'configs' / 'demo').glob('*.py')):
        cfg = Config.fromfile(str(path))
        pytest.importorskip(cfg.default_scope)
        launch.init_library(cfg)
        cli.check_config_keys(cfg, cfg.default_scope)


@pytest.mark.e2e
def test_unwritable_work_dir(cls_root, tmp_path, capsys):
    config = cls_config(tmp_path / 'cls_tiny.py', cls_root)
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    message = train_error([config, '--work-dir', blocker / 'work'], capsys)
    assert f"cannot write to the work directory '{blocker / 'work'}'" in message, message
    assert '--work-dir' in message


def coco_copy(coco_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / 'coco'
    shutil.copytree(coco_root, root)
    return root


@pytest.mark.e2e
def test_annotation_file_with_zero_images(coco_root, tmp_path, capsys):
    root = coco_copy(coco_root, tmp_path)
    ann = root / 'annotations' / 'instances_train.json'
    data = json.loads(ann.read_text())
    data['images'], data['annotations'] = [], []
    ann.write_text(json.dumps(data))
    message = train_error([RETINANET_DEMO, '--work-dir', tmp_path / 'w', '--cfg-options',
                           *loader_options(root, True)], capsys)
    assert f"annotation file '{ann}'" in message and 'lists no images' in message, message


@pytest.mark.e2e
def test_missing_image_files_are_counted_up_front(coco_root, tmp_path, capsys):
    root = coco_copy(coco_root, tmp_path)
    images = sorted((root / 'train').glob('*.jpg'))
    images[0].unlink()
    message = train_error([RETINANET_DEMO, '--work-dir', tmp_path / 'w', '--cfg-options',
                           *loader_options(root, True)], capsys)
    assert f'1 of the {len(images)} images listed in' in message, message
    assert images[0].name in message


@pytest.mark.e2e
def test_classification_list_with_missing_or_no_images(cls_root, tmp_path, capsys):
    root = tmp_path / 'cls'
    shutil.copytree(cls_root, root)
    (root / 'train' / '000002.jpg').unlink()
    config = cls_config(tmp_path / 'cls_tiny.py', root)
    message = train_error([config, '--work-dir', tmp_path / 'w'], capsys)
    assert "1 of the 8 images listed in" in message and '000002.jpg' in message, message
    (root / 'meta' / 'train.txt').write_text('')
    message = train_error([config, '--work-dir', tmp_path / 'w'], capsys)
    assert 'train.txt' in message and 'lists no images' in message, message


@pytest.mark.e2e
def test_segmentation_maps_missing_and_empty_image_folder(ade_root, tmp_path, capsys):
    root = tmp_path / 'ade'
    shutil.copytree(ade_root, root)
    seg_maps = sorted((root / 'annotations' / 'training').glob('*.png'))
    seg_maps[0].unlink()
    options = loader_options(root, False)
    message = train_error([FPN_DEMO, '--work-dir', tmp_path / 'w', '--cfg-options', *options],
                          capsys)
    assert 'segmentation maps of the images' in message and seg_maps[0].name in message
    for image in (root / 'images' / 'training').glob('*.jpg'):
        image.unlink()
    message = train_error([FPN_DEMO, '--work-dir', tmp_path / 'w', '--cfg-options', *options],
                          capsys)
    assert 'holds no .jpg image' in message, message


@pytest.mark.e2e
def test_backbone_argument_error_without_traceback(cls_root, tmp_path, capsys):
    config = cls_config(tmp_path / 'cls_tiny.py', cls_root)
    message = train_error([config, '--work-dir', tmp_path / 'w', '--cfg-options',
                           'model.backbone.arch=s13'], capsys)
    assert message.startswith("error: bad backbone configuration: unknown MetaFormer arch 's13'")


@pytest.mark.e2e
@pytest.mark.parametrize('how', ['--verbose', 'env'])
def test_verbose_shows_the_traceback_too(how, cls_root, tmp_path, capsys, monkeypatch):
    config = cls_config(tmp_path / 'cls_tiny.py', cls_root)
    argv = [str(config), '--work-dir', str(tmp_path / 'w'), '--cfg-options',
            'model.backbone.arch=s13']
    if how == 'env':
        monkeypatch.setenv(cli.VERBOSE_ENV, '1')
    else:
        argv.append('--verbose')
    with pytest.raises(SystemExit) as exit_:
        launch.main_train(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and 'Traceback' in err, err[-3000:]
    assert err.strip().splitlines()[-1].startswith('error: bad backbone configuration')


@pytest.mark.e2e
@pytest.mark.slow
def test_corrupt_image_mid_training_is_named(cls_root, tmp_path):
    root = tmp_path / 'cls'
    shutil.copytree(cls_root, root)
    bad = root / 'train' / '000003.jpg'
    bad.write_bytes(b'\xff\xd8\xff' + os.urandom(300))  # a JPEG header, then noise
    config = cls_config(tmp_path / 'cls_tiny.py', root, max_iters=3)
    proc = run_tool('train.py', config, '--work-dir', tmp_path / 'w', cwd=tmp_path)
    assert proc.returncode == 1, proc.output[-4000:]
    line = one_error_line(proc.output)
    assert f'cannot decode image {bad}' in line and 'LoadImageFromFileOrSkip' in line, line
    # skipping unreadable images on purpose: tools/train.py's entry point in-process (the exit
    # status and the error line are the subprocess's part above); it trains all 3 iterations
    config = cls_config(tmp_path / 'cls_skip.py', root, max_iters=3,
                        load="dict(type='LoadImageFromFileOrSkip')")
    runner = launch.main_train([str(config), '--work-dir', str(tmp_path / 'w2')])
    assert runner.iter == 3 and (tmp_path / 'w2' / 'iter_3.pth').is_file()
    log = logged(tmp_path / 'w2')
    assert log.count(f'skipping unreadable image {bad}') == 1, log[-4000:]


# ----------------------------------------------------------------------------------------------
# 7. Two gloo processes with batch b == one process with batch 2b
# ----------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.e2e
@pytest.mark.slow
def test_two_processes_equal_one_with_double_batch(uninterrupted, cls_root, tmp_path):
    """The classifier's loss is a per-sample mean and DDP averages gradients over processes,
    so 2 x batch 1 must match 1 x batch 2 (the uninterrupted run) up to summation order."""
    double = cls_config(tmp_path / 'double.py', cls_root, batch=1, max_iters=4)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=str(free_port()))
    env.pop('PYTHONPATH', None)
    proc = subprocess.run(['bash', str(ROOT / 'tools' / 'dist_train.sh'), str(double), '2',
                           '--work-dir', str(tmp_path / 'double')], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert 'Distributed training: True' in output, output[-6000:]
    a = uninterrupted['final']
    b = weights(tmp_path / 'double' / 'iter_4.pth')
    before = weights(uninterrupted['work'] / 'iter_3.pth')
    moved = max((a[k] - before[k]).abs().max().item()
                for k in a if a[k].is_floating_point())
    assert moved > 1e-3  # the weights did change, so the comparison means something
    diff = max((a[k] - b[k]).abs().max().item() for k in a if a[k].is_floating_point())
    print(f'moved {moved:.2e}; max |one process - two processes| = {diff:.2e}')
    assert diff <= 1e-5


# ----------------------------------------------------------------------------------------------
# SafeCheckpointHook with save_best and max_keep_ckpts (epoch based, as the cls configs)
# ----------------------------------------------------------------------------------------------
@pytest.mark.unit
def test_safe_hook_save_best_and_max_keep(tmp_path):
    from mmengine.evaluator import BaseMetric
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import Dataset

    class Toy(BaseModel):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, inputs, labels, mode='tensor'):
            out = self.linear(inputs)
            if mode == 'loss':
                return dict(loss=((out - labels) ** 2).mean())
            return [dict(error=((out - labels) ** 2).mean().item())]

    class Data(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return dict(inputs=torch.full((2,), float(i)), labels=torch.ones(1))

    class Error(BaseMetric):
        def process(self, data_batch, data_samples):
            self.results += [s['error'] for s in data_samples]

        def compute_metrics(self, results):
            return dict(error=sum(results) / len(results))

    loader = dict(batch_size=2, num_workers=0, dataset=Data(),
                  sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=dict(type='default_collate'))
    runner = Runner(
        model=Toy(), work_dir=str(tmp_path), experiment_name=f'best_{id(tmp_path)}',
        train_dataloader=loader, val_dataloader=loader, val_evaluator=[Error()],
        train_cfg=dict(by_epoch=True, max_epochs=4), val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(type='SafeCheckpointHook', interval=1,
                                           max_keep_ckpts=2, save_best='error', rule='less')))
    runner.train()
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix == '.pth')
    assert names == ['best_error_epoch_4.pth', 'epoch_3.pth', 'epoch_4.pth'], names
    assert not list(tmp_path.glob('.tmp-*'))
    for name in names:
        assert checkpoint_problem(str(tmp_path / name)) is None
    assert (tmp_path / 'last_checkpoint').read_text().strip() == str(tmp_path / 'epoch_4.pth')
