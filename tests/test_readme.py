"""Every Python snippet in README.md runs, and builds what it says it builds.

A snippet that is a config (it has ``_base_`` or ``model``) is written to a file and loaded with
mmengine's ``Config.fromfile`` as a user's project would; its model is built in the config's
scope, the checkpoint its ``init_cfg`` names is replaced by a generated file of that arch, and
the backbone must be exactly ``MetaFormer(arch)`` (same mixers and keys) with the file's weights.
Other snippets are executed as plain Python.
"""
import re
from pathlib import Path

import pytest
import torch

from mmmeta import MetaFormer

ROOT = Path(__file__).resolve().parents[1]
SNIPPETS = re.findall(r'```python\n(.*?)```', (ROOT / 'README.md').read_text(), re.S)


def test_readme_has_python_snippets():
    assert SNIPPETS


@pytest.mark.parametrize('i', range(len(SNIPPETS)))
def test_snippet_runs(i, tmp_path):
    code = SNIPPETS[i]
    if not re.search(r'^(_base_|model)\s*=', code, re.M):
        exec(compile(code, f'README snippet {i}', 'exec'), {})
        return
    pytest.importorskip('mmdet')
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    path = tmp_path / 'snippet_config.py'
    path.write_text(code)
    cfg = Config.fromfile(str(path))
    bb_cfg = cfg.model.backbone
    assert bb_cfg.type == 'MetaFormer'
    # the weights the snippet points at, generated for its arch
    want = MetaFormer(bb_cfg.arch, out_indices=bb_cfg.get('out_indices', (0, 1, 2, 3)))
    with torch.no_grad():
        for p in want.parameters():
            p.normal_()
    ckpt = tmp_path / Path(bb_cfg.init_cfg.checkpoint).name
    torch.save(want.state_dict(), ckpt)
    bb_cfg.init_cfg.checkpoint = str(ckpt)
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    model = registry.build(cfg.model)
    model.init_weights()
    bb = model.backbone
    assert isinstance(bb, MetaFormer)
    assert bb.arch_settings == want.arch_settings  # the arch's own mixers, norms, scales
    assert [type(b.token_mixer) for s in bb.stages for b in s.blocks] == \
        [type(b.token_mixer) for s in want.stages for b in s.blocks]
    got = bb.state_dict()
    assert set(got) == set(want.state_dict())
    assert all(torch.equal(got[k], v) for k, v in want.state_dict().items())
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96), mode='tensor')
    assert all(torch.isfinite(t).all() for o in out for t in o)
