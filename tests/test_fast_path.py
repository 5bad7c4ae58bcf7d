"""The fused channels-last path equals the reference modules (fp32, <= 1e-4 relative)."""
import pytest
import torch

from mmmeta import MetaFormer


def randomised(arch, **kw):
    torch.manual_seed(0)
    m = MetaFormer(arch, **kw)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return m


def run(m, x, fast):
    m.fast = fast
    return m(x)


def rel(a, b):
    return ((a - b).abs().max() / a.abs().max().clamp_min(1e-6)).item()


@pytest.mark.parametrize('arch', ['poolformer_s12', 'poolformerv2_s12'])
@pytest.mark.parametrize('shape', [(1, 3, 97, 143), (3, 3, 64, 80)])
def test_inference_equal(arch, shape):
    m = randomised(arch, out_norm=True).eval()
    assert all(m._fusable)
    x = torch.randn(*shape)
    with torch.no_grad():
        for a, b in zip(run(m, x, False), run(m, x, True)):
            assert a.shape == b.shape and b.is_contiguous(memory_format=torch.channels_last)
            assert rel(a, b) < 1e-4


@pytest.mark.parametrize('arch', ['poolformer_s12', 'poolformerv2_s12'])
def test_training_equal_loss_and_grads(arch):
    m = randomised(arch).train()
    x = torch.randn(2, 3, 64, 80)
    grads = []
    for fast in (False, True):
        m.zero_grad()
        loss = sum(o.square().mean() for o in run(m, x, fast))
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in m.named_parameters()})
    for name, g in grads[0].items():
        if name.endswith('blocks.0.norm1.bias') or ('blocks' in name and name.endswith('norm1.bias')):  # its true gradient is 0: only rounding noise on one side
            scale = grads[0][name.replace('bias', 'weight')].abs().max()
            assert g.abs().max() < 1e-3 * scale and grads[1][name].abs().max() == 0
        else:
            assert rel(g, grads[1][name]) < 1e-3, name


def test_cache_follows_weight_updates():
    m = randomised('poolformer_s12').eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        run(m, x, True)
        m.stages[0].blocks[0].mlp.fc1.weight.mul_(2)
        for a, b in zip(run(m, x, False), run(m, x, True)):
            assert rel(a, b) < 1e-4


def test_fallbacks_stay_exact():
    """Non-pooling stages, drop path in training and with_cp use the reference modules."""
    m = randomised('poolformer_hybrid_s12').eval()
    assert m._fusable == [True, True, False, False]
    x = torch.randn(1, 3, 70, 90)
    with torch.no_grad():
        for a, b in zip(run(m, x, False), run(m, x, True)):
            assert rel(a, b) < 1e-4
    dp = MetaFormer('poolformer_s12', drop_path_rate=0.1).train()
    assert not dp._use_fused(0)
    cp = MetaFormer('poolformer_s12', with_cp=True).train()
    assert not cp._use_fused(0)
    assert not any(MetaFormer('caformer_s18')._fusable)
