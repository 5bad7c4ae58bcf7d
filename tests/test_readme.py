"""Every Python snippet in README.md runs, and builds what it says it builds; the README's
tables of stage widths and of mmpretrain arch names agree with the code.

A snippet that is a config (it has ``_base_`` or ``model``) is written to a file and loaded with
mmengine's ``Config.fromfile`` as a user's project would; its model is built in the config's
scope, the checkpoint its ``init_cfg`` names is replaced by a generated file of that arch, the
backbone must be exactly ``MetaFormer(arch)`` (same mixers and keys) with the file's weights,
and the whole model runs on a small image. Other snippets are executed as plain Python.
"""
import re
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
import torch

from mmmeta import ARCHS, MetaFormer

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / 'README.md').read_text()
SNIPPETS = re.findall(r'```python\n(.*?)```', README, re.S)


@pytest.mark.unit
def test_readme_has_python_snippets():
    assert SNIPPETS


@pytest.mark.slow
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
    from mmengine.model import revert_sync_batchnorm
    model = revert_sync_batchnorm(model)  # mmseg's SyncBN heads, on CPU
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96), data_samples(scope), mode='tensor')
    assert all(torch.isfinite(t).all() for t in tensors(out))


def data_samples(scope: str):
    """Image metas a two-stage detector's RPN needs even in tensor mode (None elsewhere)."""
    if scope != 'mmdet':
        return None
    from mmdet.structures import DetDataSample
    shape = (64, 96)
    return [DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape,
                                        batch_input_shape=shape, scale_factor=(1.0, 1.0)))]


def tensors(out) -> Iterator[torch.Tensor]:
    if torch.is_tensor(out):
        yield out
    elif isinstance(out, dict):
        for v in out.values():
            yield from tensors(v)
    elif isinstance(out, (list, tuple)):
        for v in out:
            yield from tensors(v)
    else:  # InstanceData of the RPN proposals
        for v in getattr(out, 'values', lambda: [])():
            yield from tensors(v)


# ----------------------------------------------------------------------------------------------
# The tables of "Use it in your own OpenMMLab project"
# ----------------------------------------------------------------------------------------------
def cells(line: str) -> List[str]:
    return [c.strip() for c in line.strip().strip('|').split('|')]


def header_cells(header: str) -> List[str]:
    """The header row of the README table whose header starts with ``header``."""
    return cells(README[README.index(header):].splitlines()[0])


def table_rows(header: str) -> List[List[str]]:
    """The body rows of the README table whose header starts with ``header``."""
    rows = []
    for line in README[README.index(header):].splitlines()[2:]:  # after header and |---|
        if not line.startswith('|'):
            break
        rows.append(cells(line))
    return rows


def expand(pattern: str) -> List[str]:
    """``poolformer_{s12,s24}`` -> ``['poolformer_s12', 'poolformer_s24']``."""
    found = re.search(r'\{([^}]*)\}', pattern)
    if not found:
        return [pattern]
    head, tail = pattern[:found.start()], pattern[found.end():]
    return [n for part in found.group(1).split(',') for n in expand(head + part + tail)]


@pytest.mark.unit
def test_stage_width_table_lists_every_arch_with_its_dims():
    listed: Dict[str, Tuple[int, ...]] = {}
    for dims, archs in table_rows('| `dims` | archs |'):
        for name in (n for p in re.findall(r'`([^`]+)`', archs) for n in expand(p)):
            assert name not in listed, f'{name} listed twice'
            listed[name] = tuple(int(d) for d in dims.split(','))
    assert set(listed) == set(ARCHS)
    for name, dims in listed.items():
        assert tuple(ARCHS[name]['dims']) == dims, name


@pytest.mark.unit
def test_mmpretrain_arch_names_map_to_ours():
    poolformer = pytest.importorskip('mmpretrain.models.backbones.poolformer')
    header = '| mmpretrain / mmseg `arch` |'
    theirs = [c.strip(' `') for c in header_cells(header)[1:]]
    (label, *ours), = table_rows(header)
    assert label == 'mmmeta `arch`' and theirs == ['s12', 's24', 's36', 'm36', 'm48']
    for name, arch in zip(theirs, (c.strip('`') for c in ours)):
        settings = poolformer.PoolFormer.arch_settings[name]
        assert tuple(ARCHS[arch]['depths']) == tuple(settings['layers']), name
        assert tuple(ARCHS[arch]['dims']) == tuple(settings['embed_dims']), name
