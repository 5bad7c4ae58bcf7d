"""tools/analysis/benchmark.py: the parts that decide its numbers (interleaving, per-repetition
ratios, the matmul bound, the target verdicts) and its one-sentence refusal of a missing GPU."""
import argparse
import os
import runpy
import subprocess
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.unit

BENCH = runpy.run_path(str(Path(__file__).resolve().parents[1] / 'tools/analysis/benchmark.py'),
                       run_name='benchmark')


def test_interleaved_rotates_the_order_every_repetition():
    calls = []
    fns = {n: (lambda n=n: calls.append(n)) for n in 'abc'}
    times = BENCH['interleaved'](fns, torch.device('cpu'), warmup=1, reps=3)
    assert calls == list('abc') + list('abc') + list('bca') + list('cab')
    assert {n: len(t) for n, t in times.items()} == dict(a=3, b=3, c=3)


def test_ratio_is_the_median_of_per_repetition_ratios():
    # a slow minute (repetition 3) slows both: per-repetition ratios stay 2, 2, 2, 2
    ref = [1.0, 1.0, 5.0, 1.0]
    stats = BENCH['ratio_stats']([2.0, 2.0, 10.0, 2.0], ref)
    assert stats['ratio'] == stats['q1'] == stats['q3'] == 2.0
    spread = BENCH['ratio_stats']([1.0, 2.0, 3.0, 4.0], [1.0] * 4)
    assert spread['ratio'] == 2.5 and spread['q1'] < 2.5 < spread['q3']


@pytest.mark.parametrize('training', [False, True])
def test_matmul_bound_runs_the_models_layers(training, monkeypatch):
    seen = []
    real_mm = torch.mm
    monkeypatch.setattr(torch, 'mm', lambda a, b: seen.append((a.shape, b.shape)) or
                        real_mm(a, b))
    BENCH['model_gemms']('poolformer_s12', 64, 64, torch.device('cpu'), batch=1,
                         training=training)()
    # fc1 runs with its GELU in the GEMM's epilogue (oneDNN), fc2 through torch.mm; in training
    # each of the two matmuls of every block adds its input- and weight-gradient GEMMs
    depths, dims = (2, 2, 6, 2), (64, 128, 320, 512)
    blocks = sum(depths)
    fused = torch.backends.mkldnn.is_available()
    forward = blocks if fused else 2 * blocks
    assert len(seen) == forward + (4 * blocks if training else 0)
    if not training:  # the fc2 weights, stage by stage
        assert [b for _, b in seen if b[0] == 4 * b[1]] == \
            [torch.Size((4 * d, d)) for d, n in zip(dims, depths) for _ in range(n)]


def test_target_lines_say_met_missed_and_the_bound():
    rows = [dict(case='backbone inference b1 512x512 cpu fp32 (1.8 GMAC)', impl='timm compiled',
                 ratio=1.2, gemm_ratio=0.9),
            dict(case='backbone training step b2 512x512 cpu fp32', impl='timm', ratio=1.2,
                 gemm_ratio=0.8, saved_mib=600.0),
            dict(case='backbone training step b2 512x512 cpu fp32', impl='mmmeta',
                 saved_mib=300.0)]
    lines = BENCH['check_targets'](rows)
    assert any('timm compiled takes 1.20x' in s and 'met' in s and '1.33x faster' in s
               for s in lines), lines
    assert any('training' in s and 'MISSED' in s and '1.50x faster' in s for s in lines), lines
    assert any('0.50x of timm\'s activation memory (target <= 0.7x) met' in s for s in lines)


def test_missing_gpu_is_one_sentence(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr('sys.argv', ['benchmark.py', '--device', 'cuda'])
    with pytest.raises(SystemExit) as e:
        BENCH['main']()
    assert e.value.code == 2
    assert 'no CUDA GPU' in capsys.readouterr().err


def test_step_peaks_come_from_a_child_with_the_fixed_mmap_threshold(monkeypatch, capsys):
    # the timing process keeps the allocator a user's process has; only the child that measures
    # resident memory fixes glibc's mmap threshold
    seen = {}

    def fake_run(cmd, env, **kw):
        seen.update(cmd=cmd, env=env)
        return subprocess.CompletedProcess(cmd, 0, 'noise\n{"case A": {"mmmeta": 12.5}}\n', '')

    monkeypatch.setattr(subprocess, 'run', fake_run)
    rows = [dict(case='case A', impl='mmmeta'), dict(case='case A', impl='timm'),
            dict(case='case B', impl='mmmeta')]
    args = argparse.Namespace(arch='poolformer_s12', device='cpu', quick=True, threads=None)
    BENCH['measure_step_peaks'](rows, args)
    assert '--step-peaks' in seen['cmd'] and '--quick' in seen['cmd']
    assert seen['env']['MALLOC_MMAP_THRESHOLD_'] == '131072'
    assert 'MALLOC_MMAP_THRESHOLD_' not in os.environ
    assert [r.get('peak_mib') for r in rows] == [12.5, None, None]

    for code, stdout in ((1, ''), (0, ''), (0, 'not json')):  # crash; nothing or junk printed
        monkeypatch.setattr(subprocess, 'run', lambda cmd, env, **kw: subprocess.CompletedProcess(
            cmd, code, stdout, 'Traceback ...\nMemoryError'))
        rows = [dict(case='case A', impl='mmmeta')]
        BENCH['measure_step_peaks'](rows, args)
        assert 'peak_mib' not in rows[0]
        assert 'step peak memory not measured' in capsys.readouterr().out
