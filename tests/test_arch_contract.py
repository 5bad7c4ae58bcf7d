"""Per-arch contract: for every entry of ``ARCHS`` the backbone's fast path (default) and its
reference modules (``fast=False``) are one model to the outside.

Same maps (1e-5 relative, fp32), dtypes and contiguous NCHW layout; the same gradient for the
input and for every parameter with ``requires_grad``, in train and eval mode; no stale state
after in-place weight edits (also through ``.data``) or after a call under ``inference_mode``;
CPU bf16 autocast runs and matches. One block per stage (the per-block code is the same at any
depth) and small inputs keep it fast.
"""
import copy

import pytest
import torch

from mmmeta import ARCHS, MetaFormer

import helpers

RTOL = 1e-5


def pair(arch, **kw):
    torch.manual_seed(0)
    fast = MetaFormer(arch, depths=(1, 1, 1, 1), **kw)
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for n, p in fast.named_parameters():
            if 'scale' in n:  # layer / residual scales: away from 1e-5..1e-6 and from 1
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.25)
            elif p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    ref = copy.deepcopy(fast)
    ref.fast = False
    return fast, ref


def assert_close(a, b, what, rtol=RTOL):
    helpers.assert_close(a, b, what, rtol)


def maps(model, x):
    outs = model(x)
    assert all(o.is_contiguous() for o in outs), 'maps must be contiguous NCHW'
    return outs


X = torch.randn(2, 3, 45, 61, generator=torch.Generator().manual_seed(2))


@pytest.mark.slow
@pytest.mark.parametrize('arch', sorted(ARCHS))
@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_same_maps_and_gradients(arch, mode):
    fast, ref = pair(arch)
    results = []
    for m in (fast, ref):
        m.train(mode == 'train')
        with torch.no_grad():
            nograd = maps(m, X)
        m.zero_grad(set_to_none=True)
        x = X.clone().requires_grad_()
        outs = maps(m, x)
        g = torch.Generator().manual_seed(3)
        sum((o * torch.randn(o.shape, generator=g)).sum() for o in outs).backward()
        grads = {n: p.grad for n, p in m.named_parameters() if p.requires_grad}
        results.append((nograd, outs, x.grad, grads))
    (a0, a1, ax, ag), (b0, b1, bx, bg) = results
    for i, (p, q) in enumerate(zip(a0, b0)):
        assert_close(p, q, f'{arch} {mode} no_grad map {i}')
    for i, (p, q) in enumerate(zip(a1, b1)):
        assert_close(p, q, f'{arch} {mode} grad-mode map {i}')
    assert_close(ax, bx, f'{arch} {mode} input gradient', rtol=1e-4)
    for n, gr in bg.items():
        assert gr is not None, f'{arch}: reference gives no gradient to {n}'
        assert ag[n] is not None, f'{arch} {mode}: fast path gives no gradient to {n}'
        if '.blocks.' in n and n.endswith('norm1.bias') and fast._use_fused(int(n.split('.')[1])):
            # its true gradient is 0 (the bias cancels in pool(x) - x): rounding noise only
            assert ag[n].abs().max() <= 1e-4 * bg[n.replace('bias', 'weight')].abs().max()
            continue
        assert_close(ag[n], gr, f'{arch} {mode} grad of {n}', rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize('arch', sorted(ARCHS))
def test_autocast_and_inference_mode(arch):
    fast, ref = pair(arch)
    fast.eval(), ref.eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        a, b = maps(fast, X), maps(ref, X)
    for i, (p, q) in enumerate(zip(a, b)):
        assert_close(p, q, f'{arch} bf16 autocast map {i}', rtol=1e-2)
    with torch.inference_mode():
        a = maps(fast, X)
    # a call under inference_mode leaves nothing behind that breaks a later backward
    fast.train()
    sum(o.sum() for o in maps(fast, X)).backward()
    with torch.no_grad():
        b = maps(ref, X)
    for i, (p, q) in enumerate(zip(a, b)):
        assert_close(p, q, f'{arch} inference_mode map {i}')


@pytest.mark.unit
@pytest.mark.parametrize('edit', ['inplace', 'data', 'load_state_dict'])
def test_weight_edits_are_seen(edit):
    fast, ref = pair('poolformer_s12')
    fast.eval(), ref.eval()
    with torch.no_grad():
        maps(fast, X)  # a first call, in case anything were cached
        for m in (fast, ref):
            blk = m.stages[1].blocks[0]
            if edit == 'inplace':
                blk.mlp.fc1.weight.mul_(2)
                blk.norm2.weight.add_(0.5)
            elif edit == 'data':
                blk.mlp.fc1.weight.data.mul_(2)
                blk.layer_scale2.scale.data.fill_(0.9)
        if edit == 'load_state_dict':
            state = {k: v * 1.5 if v.is_floating_point() else v
                     for k, v in ref.state_dict().items()}
            ref.load_state_dict(state)
            fast.load_state_dict(state)
        for i, (p, q) in enumerate(zip(maps(fast, X), maps(ref, X))):
            assert_close(p, q, f'after {edit} edit, map {i}')


@pytest.mark.slow
def test_fast_path_is_used_where_it_can_be():
    m = MetaFormer('poolformer_s12')
    assert m._fusable == [True] * 4 and all(m._use_fused(i, X) for i in range(4))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert not m._use_fused(0, X)
    assert not MetaFormer('poolformer_s12', drop_path_rate=0.1).train()._use_fused(0)
    assert MetaFormer('poolformer_s12', drop_path_rate=0.1).eval()._use_fused(0)
    assert MetaFormer('poolformer_s12', with_cp=True).train()._use_fused(0)  # fused + cp
    assert not any(MetaFormer('caformer_s18')._fusable)
    assert MetaFormer('metaformer_pppf_s12')._fusable == [True, True, True, False]
    assert not any(MetaFormer('metaformer_ppaa_s12')._fusable)  # channel LayerNorm
    assert not MetaFormer('poolformer_s12', fast=False)._use_fused(0)
