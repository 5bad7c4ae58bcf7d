"""Fused channels-last path for pooling stages (PoolFormer v1/v2): same results, less work.

The algebra (exact in real arithmetic, ~1e-6 relative in fp32):

* GroupNorm-1 statistics are per sample, and average pooling with ``count_include_pad=False``
  has weights that sum to one, so ``pool(GN(x)) - GN(x) = (w * rsig) * (pool(x) - x)``: the
  token-mixer branch runs on the raw input, its mean and bias cancel, and the whole branch with
  layer scale becomes one ``lerp(x, pool(x), ls1 * w1 * rsig)``.
* The second norm's affine folds into the first MLP matmul, layer scale into the second:
  ``fc1' = fc1 * w2``, ``b1' = b1 + fc1 @ b2``, ``fc2' = ls2 * fc2``, ``b2' = ls2 * b2``; the
  residual add is the second matmul's epilogue (oneDNN post-ops on fp32 CPU: bias + GELU after
  the first GEMM, bias + residual after the second, no extra pass over memory).
* Everything runs channels-last (N, H, W, C), so the 1x1 convs are plain GEMMs.
* Training keeps only what backward needs (:class:`FusedBlock`): the block input and the MLP's
  pre-activation; the norms, the pooling and the activation are recomputed in backward (cheap,
  memory-bound), the four GEMMs of backward are the reference's.

What leaves a fused stage is indistinguishable from the reference: a contiguous NCHW tensor
(mmcv's RoIAlign and other custom ops read memory as contiguous NCHW), the reference's dtype
and gradients for the input and every parameter, in train and eval mode. Folded weights are
recomputed on every call from the live parameters, so in-place edits (also through ``p.data``),
``inference_mode`` and ``torch.compile`` see no stale state. Under ``torch.compile`` an inference
block is one opaque custom op (``mmmeta::pool_block_inference``) running the eager kernels;
``torch.export`` gets plain ops.
Cases whose numerics the fused form cannot reproduce run the reference modules (see
``MetaFormer._use_fused``): autocast, drop path in training, non-pooling stages.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch.autograd.function import once_differentiable

from .layers import GroupNorm1, Scale, StarReLU
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


def fold_block(blk: nn.Module) -> Tuple[Optional[torch.Tensor], ...]:
    """(mix_scale, fc1_w, fc1_b, fc2_w, fc2_b) with norm2's affine and layer scale 2 folded in
    (a bias that does not exist is None).

    Differentiable when grad mode is on: gradients flow back to the block's own parameters.
    """
    fc1, fc2, n1, n2 = blk.mlp.fc1, blk.mlp.fc2, blk.norm1, blk.norm2
    w1 = fc1.weight.flatten(1)
    ls1, ls2 = _scale_of(blk.layer_scale1), _scale_of(blk.layer_scale2)
    mix_scale = n1.weight * ls1 if ls1 is not None else n1.weight
    if n1.bias is not None and torch.is_grad_enabled():
        # norm1's bias cancels in pool(GN(x)) - GN(x) (true gradient 0); keep it in the graph
        # so that it gets a gradient (of zeros), as it does in the reference modules.
        mix_scale = mix_scale + 0 * n1.bias
    fc1_w = w1 * n2.weight
    fc1_b = fc1.bias
    if n2.bias is not None:
        fc1_b = w1 @ n2.bias if fc1_b is None else fc1_b + w1 @ n2.bias
    fc2_w = fc2.weight.flatten(1)
    fc2_b = fc2.bias
    if ls2 is not None:
        fc2_w = fc2_w * ls2[:, None]
        fc2_b = fc2_b * ls2 if fc2_b is not None else None
    return mix_scale, fc1_w, fc1_b, fc2_w, fc2_b


# ---------------------------------------------------------------------------------- kernels
_HAS_ONEDNN = torch.backends.mkldnn.is_available()


def _onednn(x: torch.Tensor) -> bool:
    """oneDNN fused-epilogue GEMMs: fp32 on CPU, where this torch build has them, when not
    traced (``torch.compile`` traces the plain ops of training, inference blocks reach it as
    one opaque op that runs these kernels; tracing for FLOP counts or export sees plain ops)."""
    return (not torch.compiler.is_compiling() and not torch.jit.is_tracing() and _HAS_ONEDNN
            and x.dtype == torch.float32
            and x.device.type == 'cpu' and torch._C._get_mkldnn_enabled())


def _epilogue_of(act: nn.Module) -> Optional[Tuple[str, str]]:
    """The oneDNN post-op that computes ``act`` exactly, if there is one."""
    if type(act) is nn.GELU:
        return 'gelu', act.approximate
    if type(act) is nn.ReLU:
        return 'relu', ''
    return None


def _linear(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor],
            act: Optional[nn.Module] = None) -> torch.Tensor:
    """``act(x @ w.T + b)`` on 2-D ``x``; bias and activation in the GEMM's epilogue on CPU."""
    post = _epilogue_of(act) if act is not None else ('none', '')
    if _onednn(x):
        if post is not None:
            return torch.ops.mkldnn._linear_pointwise(x, w, b, post[0], [], post[1])
        return act(torch.ops.mkldnn._linear_pointwise(x, w, b, 'none', [], ''))
    y = torch.addmm(b, x, w.t()) if b is not None else x @ w.t()
    return act(y) if act is not None else y


def _linear_add(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor],
                other: torch.Tensor) -> torch.Tensor:
    """``x @ w.T + b + other`` on 2-D tensors; the add is the GEMM's epilogue / accumulate."""
    if _onednn(x):
        return torch.ops.mkldnn._linear_pointwise.binary(x, other, w, b, 'add')
    out = torch.addmm(other, x, w.t())
    return out.add_(b) if b is not None else out


def _normalize(x: torch.Tensor, eps: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GroupNorm-1 without affine of (N, ...) ``x``: (normalised, mean, rstd), stats (N,1,1,1).

    ``native_group_norm`` on an (N, 1, L) view: its vectorised reduction is several times
    faster on CPU than ``var_mean`` over three dims. No autograd formula is used.
    """
    n = x.shape[0]
    z, mean, rstd = torch.native_group_norm(x.reshape(n, 1, -1), None, None, n, 1,
                                            x[0].numel(), 1, eps)
    return z.view_as(x), mean.view(n, 1, 1, 1), rstd.view(n, 1, 1, 1)


def _pool(x: torch.Tensor, k: int) -> torch.Tensor:
    return F.avg_pool2d(x.permute(0, 3, 1, 2), k, 1, k // 2,
                        count_include_pad=False).permute(0, 2, 3, 1)


def _pool_backward(grad: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
    return torch.ops.aten.avg_pool2d_backward(
        grad.permute(0, 3, 1, 2), x.permute(0, 3, 1, 2), [k, k], [1, 1], [k // 2, k // 2],
        False, False, None).permute(0, 2, 3, 1)


def _norm_backward(grad: torch.Tensor, x: torch.Tensor, mean: torch.Tensor,
                   rstd: torch.Tensor) -> torch.Tensor:
    """Input gradient of GroupNorm-1 without affine on (N, H, W, C) ``x`` (one fused kernel:
    it is a LayerNorm over (H, W, C))."""
    return torch.ops.aten.native_layer_norm_backward(
        grad, x, list(x.shape[1:]), mean, rstd, None, None, [True, False, False])[0]


def _mix(x, p, s, res1):
    """Token mixer with layer scale: ``res1 * x + s * (p - x)`` (``s`` = ls1 * w1 * rsig)."""
    return torch.addcmul(x * (res1 - s), p, s) if res1 is not None else torch.lerp(x, p, s)


# ---------------------------------------------------------------------------------- blocks
def _block_infer(x: torch.Tensor, mix_scale: torch.Tensor, fc1_w: torch.Tensor,
                 fc1_b: Optional[torch.Tensor], fc2_w: torch.Tensor,
                 fc2_b: Optional[torch.Tensor], res1: Optional[torch.Tensor],
                 res2: Optional[torch.Tensor], k: int, eps1: float, eps2: float,
                 act: nn.Module) -> torch.Tensor:
    """Inference: the mixer as one lerp, bias + activation and bias + residual in the GEMMs."""
    n, h, w, c = x.shape
    _, _, rstd1 = _normalize(x, eps1)
    y = _mix(x, _pool(x, k), mix_scale * rstd1, res1)
    z, _, _ = _normalize(y, eps2)
    hid = _linear(z.view(-1, c), fc1_w, fc1_b, act)
    resid = y * res2 if res2 is not None else y
    return _linear_add(hid, fc2_w, fc2_b, resid.view(-1, c)).view(n, h, w, c)


# torch >= 2.4 for custom ops; without ``is_exporting`` export would keep the op: plain ops then
_HAS_CUSTOM_OP = hasattr(torch.library, 'custom_op') and hasattr(torch.compiler, 'is_exporting')


def _block_no_grad(blk: nn.Module, x: torch.Tensor) -> torch.Tensor:
    args = fold_block(blk) + (_scale_of(blk.res_scale1), _scale_of(blk.res_scale2),
                              blk.token_mixer.pool_size, blk.norm1.eps, blk.norm2.eps)
    post = _epilogue_of(blk.mlp.act)
    if _HAS_CUSTOM_OP and post is not None and torch.compiler.is_compiling() and \
            not torch.compiler.is_exporting() and x.dtype == torch.float32 and \
            x.device.type == 'cpu' and _HAS_ONEDNN:
        # the compiler sees one opaque op per block that runs the eager oneDNN kernels:
        # inductor's own code for this block measured 1.2-1.4x slower than eager on CPU.
        # torch.export (and the ONNX exporter on it) gets the plain ops: portable graphs
        return torch.ops.mmmeta.pool_block_inference(x, *args, *post)
    return _block_infer(x, *args, blk.mlp.act)


if _HAS_CUSTOM_OP:
    _ACTS = {('gelu', 'none'): nn.GELU(), ('gelu', 'tanh'): nn.GELU(approximate='tanh'),
             ('relu', ''): nn.ReLU()}

    @torch.library.custom_op('mmmeta::pool_block_inference', mutates_args=())
    def _pool_block_inference(x: torch.Tensor, mix_scale: torch.Tensor, fc1_w: torch.Tensor,
                              fc1_b: Optional[torch.Tensor], fc2_w: torch.Tensor,
                              fc2_b: Optional[torch.Tensor], res1: Optional[torch.Tensor],
                              res2: Optional[torch.Tensor], k: int, eps1: float, eps2: float,
                              act: str, approximate: str) -> torch.Tensor:
        # (N, H, W, C) in, contiguous (N, H, W, C) out, whatever layout the compiler chose
        return _block_infer(x.contiguous(), mix_scale, fc1_w, fc1_b, fc2_w, fc2_b, res1, res2,
                            k, eps1, eps2, _ACTS[act, approximate])

    @_pool_block_inference.register_fake
    def _(x, *args):
        return x.new_empty(x.shape)


class FusedBlock(torch.autograd.Function):
    """A fused block under autograd that saves only the block input and the pre-activation.

    Inputs: ``x`` (N, H, W, C), the folded tensors of :func:`fold_block`, the residual scales,
    the block (for its activation, pool size and eps) and the activation's parameters (so that
    they get gradients). Backward recomputes the mixer output and the second norm from ``x``
    and the saved statistics, then runs the reference's four GEMMs.
    """

    @staticmethod
    def forward(ctx, x, mix_scale, fc1_w, fc1_b, fc2_w, fc2_b, res1, res2, blk, *act_params):
        n, h, w, c = x.shape
        _, mean1, rstd1 = _normalize(x, blk.norm1.eps)
        y = _mix(x, _pool(x, blk.token_mixer.pool_size), mix_scale * rstd1, res1)
        z, mean2, rstd2 = _normalize(y, blk.norm2.eps)
        a = _linear(z.view(-1, c), fc1_w, fc1_b)  # pre-activation, saved
        resid = y * res2 if res2 is not None else y
        out = _linear_add(blk.mlp.act(a), fc2_w, fc2_b, resid.view(-1, c))
        ctx.blk = blk
        ctx.has = (fc1_b is not None, fc2_b is not None)
        ctx.save_for_backward(x, a, mean1, rstd1, mean2, rstd2, mix_scale, fc1_w, fc2_w,
                              res1, res2, *act_params)
        return out.view(n, h, w, c)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        saved = ctx.saved_tensors  # unpacked once (checkpointing allows no second unpack)
        x, a, mean1, rstd1, mean2, rstd2, mix_scale, fc1_w, fc2_w, res1, res2 = saved[:11]
        act_params = saved[11:]
        blk, need = ctx.blk, ctx.needs_input_grad
        n, h, w, c = x.shape
        k = blk.token_mixer.pool_size
        g = g.contiguous()
        g2 = g.view(-1, c)
        # MLP: out = act(z @ fc1_w.T + fc1_b) @ fc2_w.T + fc2_b + res2 * y
        hid, d_a, d_act = _act_backward(blk.mlp.act, a, g2 @ fc2_w, act_params)
        d_fc2_w = g2.t() @ hid if need[4] else None
        d_fc2_b = g2.sum(0) if ctx.has[1] and need[5] else None
        del hid
        # recompute the mixer output and the second norm from x and the saved statistics
        p = _pool(x, k)
        y = _mix(x, p, mix_scale * rstd1, res1)
        z = (y - mean2) * rstd2
        d_fc1_w = d_a.t() @ z.view(-1, c) if need[2] else None
        d_fc1_b = d_a.sum(0) if ctx.has[0] and need[3] else None
        d_z = (d_a @ fc1_w).view(n, h, w, c)
        del d_a, z
        d_res2 = (g * y).sum((0, 1, 2)) if res2 is not None and need[7] else None
        d_y = _norm_backward(d_z, y, mean2, rstd2)  # GroupNorm-1 without affine
        del d_z
        d_y.add_(g * res2 if res2 is not None else g)
        # mixer: y = res1 * x + mix_scale * (pool(n1) - n1), n1 = GroupNorm-1(x) without affine
        # (pool(n1) - n1 = rstd1 * (p - x): pooling weights sum to one)
        d_res1 = (d_y * x).sum((0, 1, 2)) if res1 is not None and need[6] else None
        d_mix = (d_y * (p - x)).mul_(rstd1).sum((0, 1, 2)) if need[1] else None
        del p
        d_x = None
        if need[0]:
            u = d_y * mix_scale
            d_n1 = _pool_backward(u, x, k).sub_(u)
            del u
            d_x = _norm_backward(d_n1, x, mean1, rstd1)
            d_x.add_(d_y * res1 if res1 is not None else d_y)
        return (d_x, d_mix, d_fc1_w, d_fc1_b, d_fc2_w, d_fc2_b, d_res1, d_res2, None) + d_act


def _act_backward(act: nn.Module, a: torch.Tensor, d_hid: torch.Tensor,
                  act_params: Tuple[torch.Tensor, ...]):
    """(act(a), d a, d act_params) for the MLP's activation, recomputed from ``a``.

    Closed forms for the activations of the arch table (traceable by ``torch.compile``);
    autograd on a recomputed ``act(a)`` for any other."""
    kind = type(act)
    if kind is nn.GELU:
        return act(a), torch.ops.aten.gelu_backward(d_hid, a, approximate=act.approximate), ()
    if kind is nn.SiLU:
        return act(a), torch.ops.aten.silu_backward(d_hid, a), ()
    if kind is nn.ReLU:
        hid = act(a)
        return hid, d_hid * (hid > 0), ()
    if kind is StarReLU:  # s * relu(a)^2 + b
        r = torch.relu(a)
        d_scale = (d_hid * r * r).sum().view(1)
        return (act(a), d_hid * r * (2 * act.scale),
                (d_scale, d_hid.sum().view(1)))
    with torch.enable_grad():
        a_ = a.detach().requires_grad_()
        hid = act(a_)
        grads = torch.autograd.grad(hid, (a_,) + tuple(act.parameters()), d_hid)
    return hid.detach(), grads[0], tuple(grads[1:])


def _block_with_grad(blk: nn.Module, x: torch.Tensor) -> torch.Tensor:
    mix_scale, fc1_w, fc1_b, fc2_w, fc2_b = fold_block(blk)
    return FusedBlock.apply(x, mix_scale, fc1_w, fc1_b, fc2_w, fc2_b,
                            _scale_of(blk.res_scale1), _scale_of(blk.res_scale2), blk,
                            *blk.mlp.act.parameters())


def fused_stage(stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A pooling stage on NCHW ``x``: its blocks run fused channels-last. Returns an NCHW view
    with channels-last strides: in inference the next stage's downsampling conv runs
    channels-last on it without a copy; the backbone makes the maps it returns contiguous (and,
    in CPU training, the next stage's input). With ``with_cp`` in
    training each block keeps only its input (recomputed in backward)."""
    t = stage.embed(x).permute(0, 2, 3, 1).contiguous()  # N, H, W, C (free if x is a view)
    if not torch.is_grad_enabled():
        for blk in stage.blocks:
            t = _block_no_grad(blk, t)
    elif stage.with_cp and stage.training:
        for blk in stage.blocks:
            t = cp.checkpoint(_block_with_grad, blk, t, use_reentrant=False)
    else:
        for blk in stage.blocks:
            t = _block_with_grad(blk, t)
    return t.permute(0, 3, 1, 2)
