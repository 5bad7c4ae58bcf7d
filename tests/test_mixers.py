"""Token mixers: each equals its paper definition; window forms reduce to it at 224x224."""
import pytest
import torch
import torch.nn.functional as F

from mmmeta import MIXERS, MetaFormer, build_mixer


def tokens(x):  # (B, C, H, W) -> (B, N, C)
    return x.flatten(2).transpose(1, 2)


@pytest.mark.unit
def test_registry_and_aliases():
    assert set(MIXERS) == {'IdentityMixer', 'Pooling', 'RandomMixing', 'DWConv', 'SepConv',
                           'Attention', 'Fourier', 'SpatialMLP'}
    assert type(build_mixer('pooling', 8, 4)).__name__ == 'Pooling'
    assert build_mixer(dict(type='Attention', head_dim=16), 32, 16).num_heads == 2
    with pytest.raises(TypeError, match='bad options for token mixer Pooling'):
        build_mixer(dict(type='pooling', kernel=5), 8, 4)


@pytest.mark.unit
def test_pooling_minus_identity():
    x = torch.randn(2, 8, 7, 9)
    m = build_mixer(dict(type='pooling', pool_size=3), 8, 4)
    ref = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False) - x
    assert torch.allclose(m(x), ref)
    plain = build_mixer(dict(type='pooling', subtract=False), 8, 4)
    assert torch.allclose(plain(x), ref + x, atol=1e-6)
    assert sum(p.numel() for p in m.parameters()) == 0


@pytest.mark.unit
def test_identity():
    x = torch.randn(1, 4, 5, 5)
    assert torch.equal(build_mixer('identity', 4, 4)(x), x)


@pytest.mark.unit
def test_random_mixing_is_the_paper_operator_at_224():
    m = build_mixer('random', 320, 16)  # stage 3: 14x14 tokens at 224 input
    assert m.random_matrix.shape == (196, 196) and not m.random_matrix.requires_grad
    assert torch.allclose(m.random_matrix.sum(-1), torch.ones(196))
    x = torch.randn(2, 320, 14, 14)
    ref = torch.einsum('mn,bnc->bmc', m.random_matrix, tokens(x))
    assert torch.allclose(tokens(m(x)), ref, atol=1e-5)
    # a new matrix per layer from torch's generator (as the authors'); seed= fixes one
    assert not torch.equal(build_mixer('random', 320, 16).random_matrix, m.random_matrix)
    assert torch.equal(build_mixer(dict(type='random', seed=3), 320, 16).random_matrix,
                       build_mixer(dict(type='random', seed=3), 320, 16).random_matrix)
    assert build_mixer('random', 512, 32).random_matrix.shape == (49, 49)


@pytest.mark.unit
def test_random_mixing_any_size_is_convex():
    m = build_mixer('random', 8, 16)
    x = torch.full((1, 8, 25, 17), 3.0)  # padded windows: rows renormalised over real tokens
    assert torch.allclose(m(x), x, atol=1e-5)
    y = torch.randn(2, 8, 25, 17)
    out = m(y)
    assert out.shape == y.shape
    assert (out.amax() <= y.amax() + 1e-5) and (out.amin() >= y.amin() - 1e-5)
    # windows are independent: the top-left 14x14 window equals the single-window result
    assert torch.allclose(out[..., :14, :14], m(y[..., :14, :14]), atol=1e-5)


@pytest.mark.unit
def test_spatial_mlp_at_224_and_any_size():
    m = build_mixer('spatial_mlp', 16, 32)  # 7x7 tokens in stage 4
    assert m.fc.weight.shape == (49, 49)
    x = torch.randn(2, 16, 7, 7)
    ref = F.linear(x.flatten(2), m.fc.weight, m.fc.bias).view_as(x)
    assert torch.allclose(m(x), ref, atol=1e-6)
    y = torch.randn(1, 16, 10, 23)
    assert m(y).shape == y.shape
    assert torch.allclose(m(y)[..., :7, :7], m(y[..., :7, :7]), atol=1e-6)


@pytest.mark.unit
def test_fourier_is_real_fft2():
    x = torch.randn(1, 4, 6, 10)
    m = build_mixer(dict(type='fourier', norm='backward'), 4, 4)
    assert torch.allclose(m(x), torch.fft.fft2(x).real, atol=1e-5)
    ortho = build_mixer('fourier', 4, 4)(x)
    assert torch.allclose(ortho, torch.fft.fft2(x).real / 60 ** 0.5, atol=1e-5)


@pytest.mark.unit
def test_attention_matches_softmax_formula():
    torch.manual_seed(0)
    m = build_mixer('attention', 64, 16).eval()
    x = torch.randn(2, 64, 5, 7)
    t = tokens(x)
    q, k, v = m.qkv(t).view(2, 35, 3, 2, 32).permute(2, 0, 3, 1, 4)
    a = (q @ k.transpose(-1, -2) / 32 ** 0.5).softmax(-1) @ v
    ref = m.proj(a.transpose(1, 2).reshape(2, 35, 64)).transpose(1, 2).reshape_as(x)
    assert torch.allclose(m(x), ref, atol=1e-5)


@pytest.mark.unit
def test_dwconv_and_sepconv_params():
    assert sum(p.numel() for p in build_mixer(dict(type='dwconv', bias=False), 32, 4)
               .parameters()) == 9 * 32
    sep = build_mixer('sepconv', 32, 4)  # pw 32->64, StarReLU (2), dw 7x7 on 64, pw 64->32
    assert sum(p.numel() for p in sep.parameters()) == 32 * 64 * 2 + 2 + 49 * 64


@pytest.mark.unit
@pytest.mark.parametrize('mixer', ['identity', 'pooling', 'random', 'dwconv', 'sepconv',
                                   'attention', 'fourier', 'spatial_mlp'])
def test_every_mixer_in_every_stage_forward_backward(mixer):
    m = MetaFormer('poolformer_s12', token_mixers=mixer, depths=(1, 1, 1, 1),
                   dims=(16, 32, 32, 64))
    outs = m(torch.randn(2, 3, 45, 71))
    assert [o.shape[-2:] for o in outs] == [(11, 18), (6, 9), (3, 5), (2, 3)]
    sum(o.mean() for o in outs).backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


@pytest.mark.unit
def test_hybrid_arch_and_per_stage_dicts():
    m = MetaFormer('metaformer_ppaa_s12')
    kinds = [type(s.blocks[0].token_mixer).__name__ for s in m.stages]
    assert kinds == ['Pooling', 'Pooling', 'Attention', 'Attention']
    custom = MetaFormer('poolformer_s12', token_mixers=[
        dict(type='pooling', pool_size=5), 'dwconv', dict(type='random', window_size=4), 'fft'])
    assert custom.stages[0].blocks[0].token_mixer.pool_size == 5
    assert custom.stages[2].blocks[0].token_mixer.random_matrix.shape == (16, 16)
