"""Published parameter and MAC figures (the PoolFormer and MetaFormer-baselines papers) and the
get_flops tool."""
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from mmmeta.analysis import ImageNetClassifier, arch_complexity, n_params

# every test builds full-size models (or runs the tool): seconds each on two shared cores
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
V1_MACS_G = {'poolformer_s12': 1.8, 'poolformer_s24': 3.4, 'poolformer_s36': 5.0,
             'poolformer_m36': 8.8, 'poolformer_m48': 11.6}
V2_PARAMS_M = {'caformer_s18': 26.3, 'caformer_s36': 39.3, 'caformer_m36': 56.2,
               'caformer_b36': 98.8, 'convformer_s18': 26.8, 'convformer_s36': 40.0,
               'convformer_m36': 57.1, 'convformer_b36': 99.9}


@pytest.mark.parametrize('arch', sorted(V1_MACS_G))
def test_v1_macs_within_3_percent(arch):
    macs = arch_complexity(arch)['macs'] / 1e9
    assert abs(macs - V1_MACS_G[arch]) / V1_MACS_G[arch] < 0.03, macs


@pytest.mark.parametrize('arch', sorted(V2_PARAMS_M))
def test_v2_params_within_0_05m(arch):
    assert abs(n_params(ImageNetClassifier(arch)) / 1e6 - V2_PARAMS_M[arch]) <= 0.05


def test_hybrid_matches_paper():
    r = arch_complexity('metaformer_ppaa_s12')  # the paper's hybrid (16.5M, 2.5G)
    assert abs(r['params'] / 1e6 - 16.5) < 0.05
    assert abs(r['macs'] / 1e9 - 2.5) / 2.5 < 0.03


def test_attention_macs_are_counted():
    # CAFormer-S18 is 4.1G in the paper only when q@k and attn@v are counted
    assert abs(arch_complexity('caformer_s18')['macs'] / 1e9 - 4.1) < 0.05


@pytest.mark.e2e
def test_get_flops_tool(monkeypatch, capsys):
    # the figures: the tool's script run in-process as __main__ (its argv); the error exit
    # below is a real subprocess (exit status, no traceback)
    tool = ROOT / 'tools/analysis/get_flops.py'
    monkeypatch.setattr(sys, 'argv', [str(tool), 'poolformer_s12'])
    runpy.run_path(str(tool), run_name='__main__')
    out = capsys.readouterr().out
    assert '11.92M' in out and '1.82G' in out
    bad = subprocess.run([sys.executable, str(ROOT / 'tools/analysis/get_flops.py'), 'resnet50'],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and 'valid:' in bad.stderr and 'Traceback' not in bad.stderr
