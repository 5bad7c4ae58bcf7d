"""Fused channels-last path for pooling stages (PoolFormer v1/v2): same results, less work.

The algebra (exact in real arithmetic, ~1e-6 relative in fp32):

* GroupNorm-1 statistics are per sample, and average pooling with ``count_include_pad=False``
  has weights that sum to one, so ``pool(GN(x)) - GN(x) = (w * rsig) * (pool(x) - x)``: the
  token-mixer branch runs on the raw input, its mean and bias cancel, and the whole branch with
  layer scale becomes one ``lerp(x, pool(x), ls1 * w1 * rsig)``.
* The second norm's affine folds into the first MLP matmul, layer scale into the second:
  ``fc1' = fc1 * w2``, ``b1' = b1 + fc1 @ b2``, ``fc2' = ls2 * fc2``, ``b2' = ls2 * b2``; the
  residual add is the second matmul's accumulate.
* Everything runs channels-last (N, H, W, C), so the 1x1 convs are plain GEMMs.

Folded weights are cached in inference and recomputed when a parameter changes. Training uses
the same algebra with differentiable ops (``layer_norm`` over (H, W, C) is GroupNorm-1 without
affine). The reference path stays available with ``MetaFormer(..., fast=False)``.
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import GroupNorm1, Scale
from .mixers import Pooling


def block_is_fusable(blk: nn.Module) -> bool:
    """Pooling mixer, GroupNorm-1 norms, 1x1-conv MLP without dropout."""
    mix = blk.token_mixer
    return (isinstance(mix, Pooling) and mix.subtract
            and isinstance(blk.norm1, GroupNorm1) and isinstance(blk.norm2, GroupNorm1)
            and isinstance(blk.mlp.drop, nn.Identity)
            and all(isinstance(m, (Scale, nn.Identity)) for m in
                    (blk.layer_scale1, blk.layer_scale2, blk.res_scale1, blk.res_scale2)))


def _vec(m: nn.Module, like: torch.Tensor) -> torch.Tensor:
    return m.scale if isinstance(m, Scale) else like.new_ones(())


def _folded(blk: nn.Module) -> Tuple[torch.Tensor, ...]:
    """(s1, w1f, b1f, w2f, b2f) with the norm2 affine and layer scale 2 folded in."""
    fc1, fc2, n1, n2 = blk.mlp.fc1, blk.mlp.fc2, blk.norm1, blk.norm2
    w1 = fc1.weight.flatten(1)
    ls2 = _vec(blk.layer_scale2, w1)
    s1 = _vec(blk.layer_scale1, w1) * n1.weight
    w1f = w1 * n2.weight
    b1f = fc1.bias if fc1.bias is not None else w1.new_zeros(w1.shape[0])
    if n2.bias is not None:
        b1f = b1f + w1 @ n2.bias
    w2 = fc2.weight.flatten(1)
    w2f = w2 * ls2[:, None] if ls2.dim() else w2
    b2f = fc2.bias * ls2 if fc2.bias is not None else None
    return s1, w1f, b1f, w2f, b2f


def _cached_folded(blk: nn.Module) -> Tuple[torch.Tensor, ...]:
    if torch.is_grad_enabled() and blk.training:
        return _folded(blk)
    params = tuple(blk.parameters())
    key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params)
    cache = getattr(blk, '_fold_cache', None)
    if cache is None or cache[0] != key:
        with torch.no_grad():
            cache = (key, _folded(blk))
        blk._fold_cache = cache
    return cache[1]


def _normalize(x: torch.Tensor, eps: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GroupNorm-1 without affine of (N, ...) ``x``: (normalised, mean, rstd), stats (N,1,1,1).

    ``native_group_norm`` on an (N, 1, L) view: its vectorised reduction is several times
    faster on CPU than ``var_mean`` over three dims.
    """
    n = x.shape[0]
    z, mean, rstd = torch.native_group_norm(x.reshape(n, 1, -1), None, None, n, 1,
                                            x[0].numel(), 1, eps)
    return z.view_as(x), mean.view(n, 1, 1, 1), rstd.view(n, 1, 1, 1)


def _pool(x: torch.Tensor, k: int) -> torch.Tensor:
    return F.avg_pool2d(x.permute(0, 3, 1, 2), k, 1, k // 2,
                        count_include_pad=False).permute(0, 2, 3, 1)


def fused_block(blk: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One PoolFormer block on a channels-last (N, H, W, C) tensor."""
    s1, w1f, b1f, w2f, b2f = _cached_folded(blk)
    k, (n, h, w, c) = blk.token_mixer.pool_size, x.shape
    res1 = blk.res_scale1.scale if isinstance(blk.res_scale1, Scale) else None
    res2 = blk.res_scale2.scale if isinstance(blk.res_scale2, Scale) else None
    if torch.is_grad_enabled():  # differentiable form of the same algebra
        if blk.norm1.bias is not None:
            s1 = s1 + 0 * blk.norm1.bias  # true gradient 0 (it cancels); stays in the graph
        n1 = F.layer_norm(x, (h, w, c), eps=blk.norm1.eps)  # GroupNorm-1 without affine
        y = torch.addcmul(x * res1 if res1 is not None else x, _pool(n1, k) - n1, s1)
        z = F.layer_norm(y, (h, w, c), eps=blk.norm2.eps)
        out = F.linear(blk.mlp.act(F.linear(z, w1f, b1f)), w2f, b2f)
        return out + (y * res2 if res2 is not None else y)
    # token mixer: x + ls1 * (pool(GN1(x)) - GN1(x)) == lerp(x, pool(x), ls1 * w1 * rsig)
    _, _, rsig = _normalize(x, blk.norm1.eps)
    s = s1 * rsig
    p = _pool(x, k)
    y = torch.addcmul(x * (res1 - s), p, s) if res1 is not None else torch.lerp(x, p, s)
    # MLP with the GN2 affine and layer scale 2 folded into the matmuls, residual accumulated
    z, _, _ = _normalize(y, blk.norm2.eps)
    hid = blk.mlp.act(torch.addmm(b1f, z.view(-1, c), w1f.t()))
    out = torch.addmm((y * res2 if res2 is not None else y).view(-1, c), hid, w2f.t())
    if b2f is not None:
        out += b2f
    return out.view(n, h, w, c)


def fused_out_norm(norm: GroupNorm1, x: torch.Tensor) -> torch.Tensor:
    """GroupNorm-1 of a channels-last map, returned as an NCHW view (channels-last strides)."""
    if torch.is_grad_enabled():
        z = F.layer_norm(x, x.shape[1:], eps=norm.eps)
    else:
        z = _normalize(x, norm.eps)[0]
    out = z * norm.weight if norm.bias is None else torch.addcmul(norm.bias, z, norm.weight)
    return out.permute(0, 3, 1, 2)


def stage_is_fusable(stage: nn.Module) -> bool:
    return all(block_is_fusable(b) for b in stage.blocks)
