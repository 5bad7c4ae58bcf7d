"""Checkpoint layouts: equality with timm / mmpretrain through our converter, reports, errors."""
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmmeta import MetaFormer
from mmmeta.checkpoint import CheckpointError, load_pretrained

timm = pytest.importorskip('timm')  # a test dependency (setup.py extra 'tests')
ROOT = Path(__file__).resolve().parents[1]
TIMM_FAMILIES = ['poolformer_s12', 'poolformerv2_s12', 'convformer_s18', 'caformer_s18']
SIZE = (2, 3, 97, 143)  # not a multiple of 32


def randomised_timm(name: str):
    """A timm model with every parameter random, so a mis-mapped tensor cannot hide."""
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.05 + (1.0 if p.dim() == 1 else 0.0))
    return model


def timm_features(model, x):
    with torch.no_grad():
        return model.forward_intermediates(x, intermediates_only=True)


def assert_same(ref, out, tol=1e-5):
    assert len(ref) == len(out)
    for a, b in zip(ref, out):
        assert a.shape == b.shape
        assert (a - b).abs().max().item() <= tol * max(1.0, a.abs().max().item())


def build_loaded(arch, path, **kw):
    m = MetaFormer(arch, out_norm=False, init_cfg=dict(type='Pretrained', checkpoint=str(path)),
                   **kw)
    m.init_weights()
    return m.eval()


def zero_state(arch: str):
    """The state dict of ``MetaFormer(arch)`` with every tensor zero: a file's arch is read
    from its keys and shapes alone (mmmeta.checkpoint.arch_guess, the shape check), so building
    on the meta device skips the random init of up to 56M parameters the tests never read."""
    with torch.device('meta'):
        model = MetaFormer(arch)
    return {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in model.state_dict().items()}


@pytest.mark.slow
@pytest.mark.parametrize('name', TIMM_FAMILIES)
@pytest.mark.parametrize('fmt', ['pth', 'safetensors'])
def test_equal_to_timm_through_converter(name, fmt, tmp_path):
    t = randomised_timm(name)
    path = tmp_path / f'{name}.{fmt}'
    if fmt == 'pth':
        torch.save(t.state_dict(), path)
    else:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in t.state_dict().items()}, str(path))
    x = torch.randn(*SIZE)
    with torch.no_grad():
        assert_same(timm_features(t, x), build_loaded(name, path)(x))


def to_official_v2(timm_state):
    """timm -> sail-sg/metaformer names, written out by hand from the
    sail-sg/metaformer module names (not our converter)."""
    out = {}
    for k, v in timm_state.items():
        k2 = (k.replace('stem.conv.', 'downsample_layers.0.conv.')
               .replace('stem.norm.', 'downsample_layers.0.post_norm.'))
        k2 = re.sub(r'stages\.(\d)\.downsample\.norm\.', r'downsample_layers.\1.pre_norm.', k2)
        k2 = re.sub(r'stages\.(\d)\.downsample\.conv\.', r'downsample_layers.\1.conv.', k2)
        k2 = re.sub(r'stages\.(\d)\.blocks\.(\d+)\.', r'stages.\1.\2.', k2)
        if re.search(r'(mlp\.fc\d|pwconv\d)\.weight$', k2) and v.dim() == 4:
            v = v[:, :, 0, 0]  # official v2 is channels-last: nn.Linear
        out[k2] = v
    return out


@pytest.mark.slow
@pytest.mark.parametrize('name', ['poolformerv2_s12', 'caformer_s18'])
def test_official_v2_layout(name, tmp_path):
    t = randomised_timm(name)
    path = tmp_path / f'{name}.pth'
    torch.save(to_official_v2(t.state_dict()), path)
    x = torch.randn(*SIZE)
    with torch.no_grad():
        assert_same(timm_features(t, x), build_loaded(name, path)(x))


def official_v1_from_timm(timm_state):
    """timm poolformer -> official poolformer_*.pth.tar names (sail-sg/poolformer module names)."""
    out = {}
    for k, v in timm_state.items():
        k2 = k.replace('stem.conv.', 'patch_embed.proj.')
        k2 = re.sub(r'stages\.(\d)\.downsample\.conv\.',
                    lambda m: f'network.{2 * int(m.group(1)) - 1}.proj.', k2)
        k2 = re.sub(r'stages\.(\d)\.blocks\.(\d+)\.',
                    lambda m: f'network.{2 * int(m.group(1))}.{m.group(2)}.', k2)
        k2 = re.sub(r'layer_scale(\d)\.scale$', r'layer_scale_\1', k2)
        k2 = k2.replace('head.norm.', 'norm.').replace('head.fc.', 'head.')
        out[k2] = v
    return out


def mmpretrain_from_official(state):
    """official names -> mmpretrain's PoolFormer classifier (OpenMMLab's copies of the official
    files): the trunk under ``backbone.``, the final norm as ``backbone.norm6``."""
    head = {'head.' + k: v for k, v in state.items() if k.startswith('head.')}
    head = {k.replace('head.', 'head.fc.'): v for k, v in head.items()}
    return {**head, **{'backbone.' + k.replace('norm.', 'norm6.'): v
                       for k, v in state.items() if not k.startswith('head.')}}


@pytest.mark.slow
@pytest.mark.parametrize('copy', ['official', 'openmmlab'])
def test_official_v1_layout_and_report(tmp_path, copy):
    """The official file and OpenMMLab's copy of it (the configs' URL) load alike."""
    t = randomised_timm('poolformer_s12')
    state = official_v1_from_timm(t.state_dict())
    path = tmp_path / 'poolformer_s12.pth.tar'
    torch.save(state if copy == 'official' else mmpretrain_from_official(state), path)
    m = MetaFormer('poolformer_s12')
    report = load_pretrained(m, str(path), logger='silent')
    assert 'poolformer_v1' in report
    assert 'untrained output norms' in report and 'norm0, norm1, norm2, norm3' in report
    if copy == 'official':  # (the copy's head is outside its backbone. prefix)
        assert 'dropped 2' in report and 'head' in report  # classifier fc dropped
    # as in the authors' dense code, the classifier's final norm is not an output norm ...
    assert "classifier's final norm (norm.*) is not loaded" in report
    assert not torch.equal(m.norm3.weight, t.state_dict()['head.norm.weight'])
    # ... except for a backbone that returns the last stage alone (a classifier's trunk)
    cls = MetaFormer('poolformer_s12', out_indices=(3,))
    report = load_pretrained(cls, str(path), logger='silent')
    assert torch.equal(cls.norm3.weight, t.state_dict()['head.norm.weight'])
    assert 'untrained' not in report and 'norm.*' not in report
    x = torch.randn(*SIZE)
    with torch.no_grad():
        assert_same(timm_features(t, x), build_loaded('poolformer_s12', path)(x))


@pytest.mark.slow
def test_report_for_timm_file_names_untrained_norms(tmp_path):
    path = tmp_path / 'timm.pth'
    torch.save(randomised_timm('poolformer_s12').state_dict(), path)
    report = load_pretrained(MetaFormer('poolformer_s12'), str(path), logger='silent')
    assert 'norm0, norm1, norm2, norm3' in report and 'timm layout' in report


@pytest.mark.slow
def test_depth_mismatch_is_an_error(tmp_path):
    path = tmp_path / 's24.pth'
    torch.save(zero_state('poolformer_s24'), path)
    with pytest.raises(CheckpointError) as err:
        load_pretrained(MetaFormer('poolformer_s12'), str(path), logger='silent')
    assert 'poolformer_s24' in str(err.value) and 'poolformer_s12' in str(err.value)


@pytest.mark.slow
def test_width_mismatch_is_an_error(tmp_path):
    path = tmp_path / 'm36.pth'
    torch.save({'state_dict': zero_state('poolformer_m36')}, path)
    with pytest.raises(CheckpointError, match='differ in shape.*poolformer_m36'):
        load_pretrained(MetaFormer('poolformer_s36'), str(path), logger='silent')


@pytest.mark.unit
def test_missing_file_message(tmp_path):
    m = MetaFormer('poolformer_s12',
                   init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'nope.pth')))
    with pytest.raises(FileNotFoundError, match='init_cfg=None'):
        m.init_weights()


class Evil:
    def __reduce__(self):
        return (print, ('pwned',))


@pytest.mark.unit
def test_pickled_code_is_not_executed(tmp_path, capsys):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': MetaFormer('poolformer_s12').state_dict(), 'x': Evil()}, path)
    with pytest.raises(CheckpointError, match='pickled'):
        load_pretrained(MetaFormer('poolformer_s12'), str(path), logger='silent')
    assert 'pwned' not in capsys.readouterr().out


@pytest.mark.unit
def test_unknown_layout(tmp_path):
    path = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(CheckpointError, match='unrecognised checkpoint layout'):
        load_pretrained(MetaFormer('poolformer_s12'), str(path), logger='silent')


@pytest.mark.unit
def test_prefix_and_detector_checkpoint(tmp_path):
    src = MetaFormer('poolformer_s12', out_indices=(1, 2, 3))
    state = {'backbone.' + k: v for k, v in src.state_dict().items()}
    state['bbox_head.retina_cls.weight'] = torch.zeros(9, 256, 3, 3)
    path = tmp_path / 'det.pth'
    torch.save({'state_dict': state, 'meta': {}}, path)
    m = MetaFormer('poolformer_s12', out_indices=(1, 2, 3))
    report = load_pretrained(m, str(path), logger='silent')
    assert 'mmmeta layout' in report
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(),
                                                  src.state_dict().values()))


@pytest.mark.slow
def test_load_state_dict_hook_converts_inside_a_parent(tmp_path):
    """A detector-style parent loading an official-layout backbone converts on the fly."""
    t = randomised_timm('poolformer_s12')
    parent = torch.nn.Module()
    parent.backbone = MetaFormer('poolformer_s12', out_norm=False)
    parent.head = torch.nn.Linear(2, 2)
    state = {'backbone.' + k: v for k, v in official_v1_from_timm(t.state_dict()).items()
             if not k.startswith('head.')}
    state.pop('backbone.norm.weight'), state.pop('backbone.norm.bias')
    state.update({'head.' + k: v for k, v in parent.head.state_dict().items()})
    res = parent.load_state_dict(state, strict=True)
    assert not res.missing_keys and not res.unexpected_keys
    x = torch.randn(*SIZE)
    with torch.no_grad():
        assert_same(timm_features(t, x), parent.backbone.eval()(x))


@pytest.mark.e2e
@pytest.mark.slow
def test_convert_tool(tmp_path, monkeypatch, capsys):
    t = randomised_timm('poolformerv2_s12')
    src, dst = tmp_path / 'v2.pth', tmp_path / 'out' / 'v2_mmmeta.safetensors'
    torch.save(to_official_v2(t.state_dict()), src)
    # the conversion: the tool's script run in-process as __main__ (its argv); the error exit
    # below is a real subprocess (exit status, no traceback)
    tool = ROOT / 'tools/convert_checkpoint.py'
    monkeypatch.setattr(sys, 'argv', [str(tool), str(src), str(dst), '--arch',
                                      'poolformerv2_s12'])
    runpy.run_path(str(tool), run_name='__main__')
    out = capsys.readouterr().out
    assert 'metaformer_v2 layout' in out and dst.exists()
    x = torch.randn(*SIZE)
    with torch.no_grad():
        assert_same(timm_features(t, x), build_loaded('poolformerv2_s12', dst)(x))
    bad = subprocess.run([sys.executable, str(ROOT / 'tools/convert_checkpoint.py'), str(src),
                          str(dst), '--arch', 'poolformerv2_m36'], capture_output=True, text=True)
    assert bad.returncode != 0 and 'does not match' in bad.stderr and 'Traceback' not in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize('file_arch, model_arch, what', [
    ('caformer_s18', 'convformer_s18', 'different layers'),
    ('identityformer_s12', 'randformer_s12', 'different layers'),
    ('convformer_s36', 'convformer_s18', 'different numbers of blocks'),
])
def test_other_family_file_names_the_family(tmp_path, file_arch, model_arch, what):
    """Same shapes, other family: the error names the family the file's keys belong to."""
    path = tmp_path / 'v2.pth'
    torch.save(zero_state(file_arch), path)
    with pytest.raises(CheckpointError) as err:
        load_pretrained(MetaFormer(model_arch), str(path), logger='silent')
    msg = str(err.value)
    file_part, model_part = msg.split('The checkpoint has')[1].split('; the model has')
    assert what in msg and file_arch in file_part and model_arch in model_part, msg
    assert model_arch not in file_part  # pooling and identity v2 files look alike; nothing else
