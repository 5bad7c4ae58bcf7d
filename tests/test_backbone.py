"""MetaFormer backbone: shapes, parameter counts, dense-prediction behaviour, bad input."""
import math

import pytest
import torch

from mmmeta import ARCHS, MetaFormer
from mmmeta.models.metaformer import MetaFormerBlock

from helpers import n_params

V1_TRUNK = {'poolformer_s12': 11_401_152, 'poolformer_s24': 20_874_944,
            'poolformer_s36': 30_348_736, 'poolformer_m36': 55_401_984,
            'poolformer_m48': 72_702_912}
V1_CLS_M = {'poolformer_s12': 11.92, 'poolformer_s24': 21.39, 'poolformer_s36': 30.86,
            'poolformer_m36': 56.17, 'poolformer_m48': 73.47}


@pytest.mark.slow
@pytest.mark.parametrize('arch', sorted(V1_TRUNK))
def test_v1_trunk_and_classifier_params_exact(arch):
    trunk = MetaFormer(arch, out_norm=False)
    assert n_params(trunk) == V1_TRUNK[arch]
    d = trunk.dims
    # 8d^2 + 11d per block (two norms, layer scales and a 4x MLP with biases)
    blocks = sum(depth * (8 * dim * dim + 11 * dim)
                 for depth, dim in zip(ARCHS[arch]['depths'], d))
    convs = (3 * 49 + 1) * d[0] + sum((9 * a + 1) * b for a, b in zip(d[:-1], d[1:]))
    assert blocks + convs == V1_TRUNK[arch]
    # four output GroupNorms add 2,048 (S) / 2,880 (M)
    assert n_params(MetaFormer(arch)) - V1_TRUNK[arch] == 2 * sum(d)
    # classifier: last-stage norm + linear head of 1000 classes
    cls = n_params(MetaFormer(arch, out_indices=(3,))) + d[-1] * 1000 + 1000
    assert round(cls / 1e6, 2) == V1_CLS_M[arch]


@pytest.mark.slow
def test_output_norm_param_totals():
    assert n_params(MetaFormer('poolformer_s12')) - V1_TRUNK['poolformer_s12'] == 2048
    assert n_params(MetaFormer('poolformer_m36')) - V1_TRUNK['poolformer_m36'] == 2880


@pytest.mark.unit
@pytest.mark.parametrize('hw', [(32, 32), (33, 47), (97, 130), (224, 224), (4, 4), (5, 9)])
def test_output_shapes_any_size(hw):
    m = MetaFormer('poolformer_s12').eval()
    h, w = hw
    outs = m(torch.randn(1, 3, h, w))
    eh, ew = (h - 3) // 4 + 1, (w - 3) // 4 + 1
    for i, o in enumerate(outs):
        assert o.shape == (1, m.dims[i], eh, ew)
        eh, ew = math.ceil(eh / 2), math.ceil(ew / 2)


@pytest.mark.unit
def test_800_gives_reference_sizes():
    m = MetaFormer('poolformer_s12', out_norm=False).eval()
    with torch.no_grad():
        outs = m(torch.randn(1, 3, 800, 64))
    assert [o.shape[2] for o in outs] == [200, 100, 50, 25]


@pytest.mark.slow
@pytest.mark.parametrize('arch', sorted(ARCHS))
def test_every_arch_multiscale_strides(arch):
    m = MetaFormer(arch).eval()
    with torch.no_grad():
        outs = m(torch.randn(1, 3, 64, 96))
    assert [o.shape[-1] for o in outs] == [24, 12, 6, 3]
    assert [o.shape[1] for o in outs] == list(ARCHS[arch]['dims'])


@pytest.mark.unit
def test_out_indices_negative_and_partial():
    m = MetaFormer('poolformer_s12', out_indices=(-3, -1))
    assert m.out_indices == (1, 3)
    assert not hasattr(m, 'norm0') and hasattr(m, 'norm1')
    outs = m(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [128, 512]
    early = MetaFormer('poolformer_s12', out_indices=(0, 1))
    assert len(early.stages) == 2  # later stages are not built (no unused parameters in DDP)


@pytest.mark.unit
@pytest.mark.parametrize('bad', [(4,), (0, 0), (-5,), (), ('a',)])
def test_bad_out_indices(bad):
    with pytest.raises(ValueError, match='out_indices'):
        MetaFormer('poolformer_s12', out_indices=bad)


@pytest.mark.unit
def test_unknown_arch_lists_valid_names():
    with pytest.raises(ValueError) as err:
        MetaFormer('poolformer_s13')
    assert 'poolformer_s12' in str(err.value) and 'caformer_b36' in str(err.value)


@pytest.mark.unit
def test_unknown_argument_is_named():
    with pytest.raises(TypeError, match='depth'):
        MetaFormer('poolformer_s12', depth=50)  # a ResNet key leaking from a base config


@pytest.mark.unit
def test_unknown_mixer_norm_act():
    with pytest.raises(ValueError, match='token mixer'):
        MetaFormer('poolformer_s12', token_mixers='conv5')
    with pytest.raises(ValueError, match='norm type'):
        MetaFormer('poolformer_s12', norm_cfg=dict(type='IN'))
    with pytest.raises(ValueError, match='activation'):
        MetaFormer('poolformer_s12', act_cfg='Swish2')
    with pytest.raises(ValueError, match='4 stages'):
        MetaFormer('poolformer_s12', token_mixers=['pooling'] * 3)


@pytest.mark.unit
def test_too_small_input_is_clear():
    with pytest.raises(ValueError, match='H, W >= 4'):
        MetaFormer('poolformer_s12')(torch.randn(1, 3, 3, 64))


@pytest.mark.unit
@pytest.mark.parametrize('frozen', [0, 1, 3])
def test_frozen_stages_no_grad_and_eval(frozen):
    m = MetaFormer('poolformer_s12', frozen_stages=frozen, norm_cfg=dict(type='BN'))
    m.train()
    outs = m(torch.randn(2, 3, 64, 64))
    sum(o.sum() for o in outs).backward()
    frozen_mods = [m.stem] + [m.stages[i] for i in range(frozen)]
    frozen_mods += [getattr(m, f'norm{i}') for i in range(frozen)]
    for mod in frozen_mods:
        assert not mod.training
        for p in mod.parameters():
            assert not p.requires_grad and p.grad is None
    for i in range(frozen, 4):
        assert m.stages[i].training
        assert all(p.grad is not None for p in m.stages[i].parameters() if p.requires_grad)


@pytest.mark.unit
def test_frozen_minus_one_trains_everything():
    m = MetaFormer('poolformer_s12', frozen_stages=-1)
    assert all(p.requires_grad for p in m.parameters())
    with pytest.raises(ValueError, match='frozen_stages'):
        MetaFormer('poolformer_s12', frozen_stages=5)


@pytest.mark.unit
def test_frozen_bn_statistics_do_not_move():
    m = MetaFormer('poolformer_s12', frozen_stages=1, norm_cfg=dict(type='BN'))
    m.train()
    before = m.stages[0].blocks[0].norm1.running_mean.clone()
    m(torch.randn(2, 3, 64, 64) * 3 + 1)
    assert torch.equal(before, m.stages[0].blocks[0].norm1.running_mean)
    assert not torch.equal(m.stages[1].blocks[0].norm1.running_mean,
                           torch.zeros_like(m.stages[1].blocks[0].norm1.running_mean))


@pytest.mark.unit
def test_norm_eval_keeps_bn_in_eval():
    m = MetaFormer('poolformer_s12', norm_cfg=dict(type='BN'), norm_eval=True)
    m.train()
    assert all(not b.training for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d))


@pytest.mark.slow
def test_with_cp_same_result_and_grads():
    torch.manual_seed(0)
    a = MetaFormer('caformer_s18', out_indices=(2, 3)).train()
    b = MetaFormer('caformer_s18', out_indices=(2, 3), with_cp=True).train()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 64, 64)
    la, lb = (sum(o.square().mean() for o in m(x)) for m in (a, b))
    la.backward()
    lb.backward()
    assert torch.allclose(la, lb, atol=1e-6)
    ga = a.stages[2].blocks[0].token_mixer.qkv.weight.grad
    gb = b.stages[2].blocks[0].token_mixer.qkv.weight.grad
    assert torch.allclose(ga, gb, atol=1e-6)


@pytest.mark.unit
def test_in_channels_and_drop_path():
    m = MetaFormer('poolformer_s12', in_channels=1, drop_path_rate=0.3)
    assert m.stem.conv.in_channels == 1
    rates = [blk.drop_path.p for s in m.stages for blk in s.blocks if hasattr(blk.drop_path, 'p')]
    assert rates[-1] == pytest.approx(0.3) and rates == sorted(rates)
    m.train()
    m(torch.randn(2, 1, 64, 64))


@pytest.mark.unit
def test_block_is_the_metaformer_formula():
    torch.manual_seed(0)
    blk = MetaFormerBlock(16, 4, 'pooling', layer_scale_init=0.5).eval()
    x = torch.randn(2, 16, 9, 11)
    pool = torch.nn.functional.avg_pool2d
    n1 = torch.nn.functional.group_norm(x, 1, blk.norm1.weight, blk.norm1.bias, 1e-5)
    y = x + 0.5 * (pool(n1, 3, 1, 1, count_include_pad=False) - n1)
    n2 = torch.nn.functional.group_norm(y, 1, blk.norm2.weight, blk.norm2.bias, 1e-5)
    z = y + 0.5 * blk.mlp.fc2(torch.nn.functional.gelu(blk.mlp.fc1(n2)))
    assert torch.allclose(blk(x), z, atol=1e-6)


@pytest.mark.unit
def test_v2_structure():
    m = MetaFormer('caformer_s18')
    assert m.stem.norm.bias is None and m.stages[1].downsample.norm.bias is None
    blk2, blk3 = m.stages[1].blocks[0], m.stages[2].blocks[0]
    assert isinstance(blk2.res_scale1, torch.nn.Identity)
    assert float(blk3.res_scale1.scale[0]) == 1.0
    assert type(blk3.token_mixer).__name__ == 'Attention' and blk3.token_mixer.num_heads == 10
    assert blk3.mlp.fc1.bias is None
    assert not m.out_norm and not hasattr(m, 'norm0')
