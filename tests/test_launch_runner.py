"""mmmeta.launch.runner and the tools: checkpoints the Runner writes load under torch's
weights_only loader (after `import mmmeta`) and resume; the tools report missing files in one
line, without a traceback."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from launch_helpers import ROOT, ToyDataset, ToyModel
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mmmeta.test
import mmmeta.train
from mmmeta.launch import runner as launch_runner


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


@pytest.mark.slow
def test_checkpoint_loads_with_weights_only_default(trained):
    work_dir, _ = trained
    ckpt = torch.load(work_dir / 'epoch_2.pth')  # torch >= 2.6: weights_only=True
    assert ckpt['meta']['epoch'] == 2 and 'message_hub' in ckpt
    torch.load(work_dir / 'epoch_2.pth', weights_only=True)


@pytest.mark.slow
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


@pytest.mark.slow
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
@pytest.mark.unit
def test_arbitrary_objects_still_refused(tmp_path, make_payload):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'extra': make_payload(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert not marker.exists()


def run_tool(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    env.pop('PYTHONPATH', None)  # the tools must find mmmeta by themselves
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.e2e
@pytest.mark.slow
def test_tools_report_missing_files_without_traceback(tmp_path, det_cfg_file):
    proc = run_tool(str(ROOT / 'tools' / 'train.py'), 'configs/nope.py', cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert 'config file not found' in proc.stderr and 'Traceback' not in proc.stderr
    proc = run_tool(str(ROOT / 'tools' / 'test.py'), str(det_cfg_file), 'nope.pth',
                    cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert 'checkpoint file not found' in proc.stderr and 'Traceback' not in proc.stderr


@pytest.mark.parametrize('module,main', [(mmmeta.train, 'main_train'),
                                         (mmmeta.test, 'main_test')])
@pytest.mark.unit
def test_entry_points_exit_zero_after_the_run(monkeypatch, module, main):
    """mmmeta-train / mmmeta-test return exit status 0, not the Runner or the metrics."""
    calls = []
    monkeypatch.setattr(launch_runner, main, lambda argv=None: calls.append(argv) or object())
    assert module.main(['CONFIG']) == 0 and calls == [['CONFIG']]


@pytest.mark.unit
def test_nothing_to_read_or_check_without_load_from():
    """No load_from (or a resume): nothing is read before the Runner, nothing checked after."""
    from mmengine.config import Config
    assert launch_runner.read_load_from(Config(dict(load_from=None)), 'train', False) is None
    cfg = Config(dict(load_from='w.pth', resume=True))
    assert launch_runner.read_load_from(cfg, 'test', False) is None
    assert launch_runner.check_loaded_file(None, 'train', None, False) is None
