"""Helpers shared by the test files: ``from helpers import ...`` (conftest.py puts tests/ on
``sys.path``; tests/ is not a package because mmsegmentation installs a top-level ``tests``).

Fixtures live in conftest.py; this module holds plain functions and constants.
"""
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / 'configs'
# every config a user can pick (the _base_ pieces are not complete configs)
CONFIGS = sorted(str(p.relative_to(CONFIG_DIR)) for p in CONFIG_DIR.rglob('*.py')
                 if '_base_' not in p.parts)
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


# ----------------------------------------------------------------------------------------------
# Subprocesses: the tools as a user runs them
# ----------------------------------------------------------------------------------------------
def run_python(*argv, cwd: Path, env_extra: Optional[Dict[str, str]] = None,
               timeout: int = 900) -> subprocess.CompletedProcess:
    """``python argv...`` in a fresh interpreter, as a user runs it: CPU only, one OpenMP thread
    (tiny models on two shared cores), without the test run's PYTHONPATH (the tools find
    mmmeta by themselves) and without MMMETA_VERBOSE. ``.output`` holds stdout + stderr."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    env.pop('PYTHONPATH', None)
    env.pop('MMMETA_VERBOSE', None)  # mmmeta.cli.VERBOSE_ENV: tracebacks only on request
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    proc.output = proc.stdout + proc.stderr
    return proc


def run_tool(tool: str, *args, cwd: Path, **kw) -> subprocess.CompletedProcess:
    """``python tools/<tool> args...``, see :func:`run_python`."""
    return run_python(ROOT / 'tools' / tool, *args, cwd=cwd, **kw)


def main_in_process(main, *argv, log_dir: Path, cwd: Path, monkeypatch):
    """``main([argv...])`` of a tool (e.g. mmmeta.launch.main_train) in this process, from
    ``cwd``; returns (its result, what it logged). The text is what the Runner's logger wrote to
    the log files that appeared under ``log_dir`` (the run's work dir) during the call, after
    what was logged before the Runner existed (to the current MMLogger: a fresh one here, as a
    fresh process has)."""
    from mmengine.logging import MMLogger
    before = set(log_dir.glob('*/*.log'))
    name = f'in_process_{uuid.uuid4().hex}'  # a new logger: get_instance reuses a known name
    early = cwd / f'{name}.log'
    MMLogger.get_instance(name, log_file=str(early))
    monkeypatch.chdir(cwd)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as run_python's subprocesses (tiny models, shared cores)
    try:
        result = main([str(a) for a in argv])
    finally:
        torch.set_num_threads(threads)
    new = sorted(set(log_dir.glob('*/*.log')) - before)
    assert new, f'no log file of the run under {log_dir}'
    return result, early.read_text() + ''.join(p.read_text() for p in new)


def loader_options(batch_size: int = 1) -> List[str]:
    """--cfg-options giving every dataloader ``batch_size`` and no worker processes."""
    opts = []
    for loader in LOADERS:
        opts += [f'{loader}.batch_size={batch_size}', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    return opts


# ----------------------------------------------------------------------------------------------
# Models and checkpoints
# ----------------------------------------------------------------------------------------------
def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def randomize_(model: torch.nn.Module, seed: int = 0, weights: bool = False) -> None:
    """Give norms, biases, layer scales and BN statistics random values: they start at
    constants (1/0, layer scales at 1e-5), which would make equality checks blind and hide the
    token mixer and MLP branches from a 1e-4 comparison. ``weights=True`` also adds noise to
    every other floating tensor (the multi-dimensional weights)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if not value.is_floating_point():
                continue
            noise = torch.randn(value.shape, generator=gen)
            if key.endswith('running_var'):
                value.copy_(0.5 + noise.abs())
            elif 'layer_scale' in key or value.dim() == 1:
                value.add_(0.2 * noise)
            elif weights:
                value.add_(0.1 * noise)


def load_with_report(model, path: Path, monkeypatch) -> Tuple[List[str], List[str]]:
    """mmengine.runner.load_checkpoint; returns (missing, unexpected) from its report."""
    import mmengine.runner.checkpoint as ckpt_module
    from mmengine.runner import load_checkpoint
    messages = []
    monkeypatch.setattr(ckpt_module, 'print_log',
                        lambda msg, *args, **kwargs: messages.append(str(msg)))
    load_checkpoint(model, str(path), map_location='cpu')
    text = '\n'.join(messages)

    def keys(what: str) -> List[str]:
        m = re.search(rf'{what} in source state_dict: ([^\n]*)', text)
        return sorted(m.group(1).strip().split(', ')) if m else []

    return keys('missing keys'), keys('unexpected key')


def assert_close(a: torch.Tensor, b: torch.Tensor, what: str, rtol: float) -> None:
    """Same shape and dtype, max |a - b| <= rtol * max(|b|, 1e-3); for bool tensors
    (thresholded masks, where a pixel at the threshold may flip) at most a ``rtol`` fraction
    differs."""
    assert a.shape == b.shape, (what, a.shape, b.shape)
    assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
    if a.dtype == torch.bool:
        assert (a != b).float().mean().item() <= rtol, f'{what}: {(a != b).sum()} pixels differ'
        return
    a, b = a.double(), b.double()
    scale = b.abs().max().item() if b.numel() else 0.0
    err = (a - b).abs().max().item() if b.numel() else 0.0
    assert err <= rtol * max(scale, 1e-3), f'{what}: max diff {err:.3g} at scale {scale:.3g}'


# mmmeta backbone name -> the official PoolFormer v1 name, written out
# here independently of mmmeta.checkpoint.
_TO_AUTHORS = [
    (r'stem\.conv\.(weight|bias)', lambda m: f'patch_embed.proj.{m[1]}'),
    (r'stages\.(\d)\.blocks\.(\d+)\.layer_scale([12])\.scale',
     lambda m: f'network.{2 * int(m[1])}.{m[2]}.layer_scale_{m[3]}'),
    (r'stages\.(\d)\.blocks\.(\d+)\.((?:norm1|norm2|mlp\.fc1|mlp\.fc2)\.(?:weight|bias))',
     lambda m: f'network.{2 * int(m[1])}.{m[2]}.{m[3]}'),
    (r'stages\.([123])\.downsample\.conv\.(weight|bias)',
     lambda m: f'network.{2 * int(m[1]) - 1}.proj.{m[2]}'),
    (r'norm([0-3])\.(weight|bias)', lambda m: f'norm{2 * int(m[1])}.{m[2]}'),
]


def authors_backbone_key(key: str) -> str:
    """The official PoolFormer v1 name of an mmmeta backbone key."""
    for pattern, rename in _TO_AUTHORS:
        m = re.fullmatch(pattern, key)
        if m:
            return rename(m)
    raise AssertionError(f'no authors name known for backbone key {key!r}')

