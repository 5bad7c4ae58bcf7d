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

What leaves a fused stage is indistinguishable from the reference: a contiguous NCHW tensor
(mmcv's RoIAlign and other custom ops read memory as contiguous NCHW), the reference's dtype
and gradients for the input and every parameter, in train and eval mode. Folded weights are
recomputed on every call from the live parameters, so in-place edits (also through ``p.data``),
``inference_mode`` and ``torch.compile`` see no stale state. Cases whose numerics the fused
form cannot reproduce run the reference modules (see ``MetaFormer._use_fused``): autocast,
drop path in training, activation checkpointing, non-pooling stages.
"""
from typing import Optional, Tuple

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


def stage_is_fusable(stage: nn.Module) -> bool:
    return all(block_is_fusable(b) for b in stage.blocks)


def _scale_of(m: nn.Module) -> Optional[torch.Tensor]:
    """The per-channel vector of a :class:`Scale`, None for an identity."""
    return m.scale if isinstance(m, Scale) else None


def fold_block(blk: nn.Module) -> Tuple[torch.Tensor, ...]:
    """(mix_scale, fc1_w, fc1_b, fc2_w, fc2_b) with norm2's affine and layer scale 2 folded in.

    Differentiable when grad mode is on: gradients flow back to the block's own parameters.
    """
    fc1, fc2, n1, n2 = blk.mlp.fc1, blk.mlp.fc2, blk.norm1, blk.norm2
    w1 = fc1.weight.flatten(1)
    ls1, ls2 = _scale_of(blk.layer_scale1), _scale_of(blk.layer_scale2)
    mix_scale = n1.weight * ls1 if ls1 is not None else n1.weight
    fc1_w = w1 * n2.weight
    fc1_b = fc1.bias if fc1.bias is not None else w1.new_zeros(w1.shape[0])
    if n2.bias is not None:
        fc1_b = fc1_b + w1 @ n2.bias
    fc2_w = fc2.weight.flatten(1)
    fc2_b = fc2.bias
    if ls2 is not None:
        fc2_w = fc2_w * ls2[:, None]
        fc2_b = fc2_b * ls2 if fc2_b is not None else None
    return mix_scale, fc1_w, fc1_b, fc2_w, fc2_b


def _normalize(x: torch.Tensor, eps: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GroupNorm-1 without affine of (N, ...) ``x``: (normalised, mean, rstd), stats (N,1,1,1).

    ``native_group_norm`` on an (N, 1, L) view: its vectorised reduction is several times
    faster on CPU than ``var_mean`` over three dims. Inference only (no autograd formula used).
    """
    n = x.shape[0]
    z, mean, rstd = torch.native_group_norm(x.reshape(n, 1, -1), None, None, n, 1,
                                            x[0].numel(), 1, eps)
    return z.view_as(x), mean.view(n, 1, 1, 1), rstd.view(n, 1, 1, 1)


def _pool(x: torch.Tensor, k: int) -> torch.Tensor:
    return F.avg_pool2d(x.permute(0, 3, 1, 2), k, 1, k // 2,
                        count_include_pad=False).permute(0, 2, 3, 1)


def _block_with_grad(blk: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Differentiable form of the fused algebra (training, or eval mode under autograd)."""
    mix_scale, fc1_w, fc1_b, fc2_w, fc2_b = fold_block(blk)
    res1, res2 = _scale_of(blk.res_scale1), _scale_of(blk.res_scale2)
    h, w, c = x.shape[1:]
    if blk.norm1.bias is not None:
        # norm1's bias cancels in pool(GN(x)) - GN(x) (true gradient 0); keep it in the graph
        # so that it gets a gradient (of zeros), as it does in the reference modules.
        mix_scale = mix_scale + 0 * blk.norm1.bias
    n1 = F.layer_norm(x, (h, w, c), eps=blk.norm1.eps)  # GroupNorm-1 without affine
    y = torch.addcmul(x * res1 if res1 is not None else x,
                      _pool(n1, blk.token_mixer.pool_size) - n1, mix_scale)
    z = F.layer_norm(y, (h, w, c), eps=blk.norm2.eps)
    out = F.linear(blk.mlp.act(F.linear(z, fc1_w, fc1_b)), fc2_w, fc2_b)
    return out + (y * res2 if res2 is not None else y)


def _block_no_grad(blk: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Inference form: the mixer as one lerp, the residual accumulated by the second GEMM."""
    mix_scale, fc1_w, fc1_b, fc2_w, fc2_b = fold_block(blk)
    res1, res2 = _scale_of(blk.res_scale1), _scale_of(blk.res_scale2)
    n, h, w, c = x.shape
    # token mixer: x + ls1 * (pool(GN1(x)) - GN1(x)) == lerp(x, pool(x), ls1 * w1 * rsig)
    _, _, rsig = _normalize(x, blk.norm1.eps)
    s = mix_scale * rsig
    p = _pool(x, blk.token_mixer.pool_size)
    y = torch.addcmul(x * (res1 - s), p, s) if res1 is not None else torch.lerp(x, p, s)
    # MLP with the GN2 affine and layer scale 2 folded into the matmuls, residual accumulated
    z, _, _ = _normalize(y, blk.norm2.eps)
    hid = blk.mlp.act(torch.addmm(fc1_b, z.view(-1, c), fc1_w.t()))
    out = torch.addmm((y * res2 if res2 is not None else y).reshape(-1, c), hid, fc2_w.t())
    if fc2_b is not None:
        out += fc2_b
    return out.view(n, h, w, c)


def fused_stage(stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A pooling stage on NCHW ``x``: its blocks run fused channels-last; returns contiguous
    NCHW (the channels-last activation is not kept: nothing in backward needs it)."""
    t = stage.embed(x).permute(0, 2, 3, 1).contiguous()  # N, H, W, C
    block = _block_with_grad if torch.is_grad_enabled() else _block_no_grad
    for blk in stage.blocks:
        t = block(blk, t)
    return t.permute(0, 3, 1, 2).contiguous()
