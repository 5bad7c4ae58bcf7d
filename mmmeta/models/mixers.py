"""Token mixers: the plug-in part of a MetaFormer block.

Every mixer takes an NCHW tensor and returns one of the same shape. Constructors share the
signature ``Mixer(dim, stride, **options)``: ``stride`` (4, 8, 16 or 32) is the stage's
downsampling factor, which the token-count-bound mixers use to pick their window.

Random mixing and spatial MLP are defined by the authors for a fixed token grid (the stage's
grid at 224x224 input, e.g. 14x14 in stage 3). To work at any detection or segmentation
resolution they run here on non-overlapping windows of that grid size, with the map zero-padded
at the bottom/right to a whole number of windows. At 224x224 input there is exactly one window
and no padding, so they reduce to the published operators (and load the published weights).
For random mixing, padded tokens are excluded and each row is renormalised, so every output is
still a convex combination of real tokens.
"""
import math
from typing import Dict, Optional, Tuple, Type, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import CfgType, build_act

MIXERS: Dict[str, Type[nn.Module]] = {}
_ALIASES: Dict[str, str] = {}


def register_mixer(*aliases: str):
    """Register a mixer class under its class name and lower-case aliases."""

    def wrap(cls):
        MIXERS[cls.__name__] = cls
        for name in (cls.__name__.lower(),) + aliases:
            _ALIASES[name] = cls.__name__
        return cls

    return wrap


def build_mixer(cfg: Union[str, dict, None], dim: int, stride: int) -> nn.Module:
    """Build a mixer from a name (``'pooling'``) or ``dict(type='Pooling', pool_size=5)``."""
    cfg = dict(type='identity') if cfg is None else (
        dict(type=cfg) if isinstance(cfg, str) else dict(cfg))
    kind = str(cfg.pop('type'))
    name = kind if kind in MIXERS else _ALIASES.get(kind.lower())
    if name is None:
        raise ValueError(f'unknown token mixer {kind!r}; choose one of {sorted(MIXERS)} '
                         f'(aliases: {sorted(_ALIASES)})')
    try:
        return MIXERS[name](dim=dim, stride=stride, **cfg)
    except TypeError as err:
        raise TypeError(f'bad options for token mixer {name}: {err}') from None


@register_mixer('identity', 'none')
class IdentityMixer(nn.Module):
    """IdentityFormer's mixer: no token mixing at all."""

    def __init__(self, dim: int, stride: int = 4):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@register_mixer('pool', 'avgpool')
class Pooling(nn.Module):
    """PoolFormer's mixer: ``AvgPool(K, stride 1, count_include_pad=False)(x) - x``.

    The ``- x`` is there because the block already adds the input back; ``subtract=False``
    gives the paper's ablation without it.
    """

    def __init__(self, dim: int, stride: int = 4, pool_size: int = 3, subtract: bool = True):
        super().__init__()
        self.pool_size, self.subtract = pool_size, subtract
        self.pool = nn.AvgPool2d(pool_size, 1, pool_size // 2, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(x)
        return y - x if self.subtract else y


def _windows(x: torch.Tensor, window: int) -> Tuple[torch.Tensor, int, int]:
    """Zero-pad NCHW ``x`` to multiples of ``window``; return (B*nW, window**2, C) windows and
    the padded height and width."""
    b, c, height, width = x.shape
    hp, wp = math.ceil(height / window) * window, math.ceil(width / window) * window
    if (hp, wp) != (height, width):
        x = F.pad(x, (0, wp - width, 0, hp - height))
    x = x.view(b, c, hp // window, window, wp // window, window).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(-1, window * window, c), hp, wp


def _unwindows(t: torch.Tensor, b: int, height: int, width: int, hp: int, wp: int,
               window: int) -> torch.Tensor:
    """Inverse of :func:`_windows`, cropping the padding."""
    c = t.shape[-1]
    t = t.view(b, hp // window, wp // window, window, window, c).permute(0, 5, 1, 3, 2, 4)
    return t.reshape(b, c, hp, wp)[:, :, :height, :width]


class _WindowMixer(nn.Module):
    """Shared window bookkeeping for the token-count-bound mixers."""

    def __init__(self, stride: int, window_size: Optional[int], ref_size: int):
        super().__init__()
        self.window_size = window_size or max(ref_size // stride, 1)
        self.num_tokens = self.window_size ** 2

    def _valid(self, height: int, width: int, hp: int, wp: int,
               like: torch.Tensor) -> torch.Tensor:
        """(nW, n) mask of real (unpadded) tokens per window."""
        m = like.new_zeros(hp, wp)
        m[:height, :width] = 1
        window = self.window_size
        return m.view(hp // window, window, wp // window, window).permute(0, 2, 1, 3).reshape(
            -1, window * window)


@register_mixer('random', 'randommix', 'random_mixing')
class RandomMixing(_WindowMixer):
    """RandFormer's mixer: a frozen, row-softmax-normalised random token-mixing matrix.

    ``window_size`` defaults to the stage's token grid at ``ref_size`` (224) input. As in the
    authors' code, every layer draws its own matrix from torch's global generator (so
    ``torch.manual_seed`` / the runner's seed make it reproducible); ``seed`` gives one layer a
    fixed matrix of its own instead. It is a parameter without gradient so that the authors'
    checkpoints, which store it as ``random_matrix``, load unchanged.
    """

    def __init__(self, dim: int, stride: int = 16, window_size: Optional[int] = None,
                 ref_size: int = 224, seed: Optional[int] = None):
        super().__init__(stride, window_size, ref_size)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        matrix = torch.softmax(torch.rand(self.num_tokens, self.num_tokens, generator=gen), -1)
        self.random_matrix = nn.Parameter(matrix, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, height, width = x.shape
        t, hp, wp = _windows(x, self.window_size)
        m = self.random_matrix.to(t.dtype)
        if (hp, wp) == (height, width):
            out = torch.matmul(m, t)
        else:  # drop padded columns, renormalise rows
            valid = self._valid(height, width, hp, wp, t)  # (nW, n)
            norm = (valid @ m.t()).clamp_min(1e-12)  # (nW, n): row sums over real tokens
            out = torch.matmul(m, t * valid.repeat(b, 1)[..., None]) / norm.repeat(b, 1)[..., None]
        return _unwindows(out, b, height, width, hp, wp, self.window_size)


@register_mixer('mlp', 'spatialmlp', 'spatial_mlp', 'token_mlp')
class SpatialMLP(_WindowMixer):
    """MLP-Mixer style token mixing: one FC layer across the tokens of each window, shared by
    channels. Zero padding completes partial windows (as a zero-padded convolution would)."""

    def __init__(self, dim: int, stride: int = 16, window_size: Optional[int] = None,
                 ref_size: int = 224, bias: bool = False):
        super().__init__(stride, window_size, ref_size)
        self.fc = nn.Linear(self.num_tokens, self.num_tokens, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, height, width = x.shape
        t, hp, wp = _windows(x, self.window_size)  # (B*nW, n, C)
        out = self.fc(t.transpose(1, 2)).transpose(1, 2)
        return _unwindows(out, b, height, width, hp, wp, self.window_size)


@register_mixer('dwconv', 'depthwise', 'depthwise_conv')
class DWConv(nn.Module):
    """Depthwise convolution mixer (K x K per channel)."""

    def __init__(self, dim: int, stride: int = 4, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim,
                              bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@register_mixer('sepconv', 'separable', 'separable_conv')
class SepConv(nn.Module):
    """ConvFormer's inverted separable conv: pw (x2) -> StarReLU -> dw 7x7 -> pw."""

    def __init__(self, dim: int, stride: int = 4, expansion_ratio: float = 2.0,
                 act1_cfg: CfgType = 'StarReLU', act2_cfg: CfgType = None, bias: bool = False,
                 kernel_size: int = 7):
        super().__init__()
        mid = int(expansion_ratio * dim)
        self.pwconv1 = nn.Conv2d(dim, mid, 1, bias=bias)
        self.act1 = build_act(act1_cfg)
        self.dwconv = nn.Conv2d(mid, mid, kernel_size, padding=kernel_size // 2, groups=mid,
                                bias=bias)
        self.act2 = build_act(act2_cfg)
        self.pwconv2 = nn.Conv2d(mid, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pwconv2(self.act2(self.dwconv(self.act1(self.pwconv1(x)))))


@register_mixer('attn', 'mhsa', 'self_attention')
class Attention(nn.Module):
    """Global multi-head self-attention over all tokens (PyTorch SDPA), head dim 32."""

    def __init__(self, dim: int, stride: int = 16, head_dim: int = 32,
                 num_heads: Optional[int] = None, qkv_bias: bool = False,
                 proj_bias: bool = False, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        self.head_dim = head_dim
        self.num_heads = num_heads or max(dim // head_dim, 1)
        inner = self.num_heads * head_dim
        self.qkv = nn.Linear(dim, inner * 3, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim, bias=proj_bias)
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop) if proj_drop > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)  # (B, N, C)
        qkv = self.qkv(t).view(b, h * w, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        t = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        t = self.proj_drop(self.proj(t.transpose(1, 2).reshape(b, h * w, -1)))
        return t.transpose(1, 2).reshape(b, c, h, w)


@register_mixer('fft', 'fnet')
class Fourier(nn.Module):
    """FNet-style mixing: the real part of the 2-D FFT over the spatial dims.

    ``norm='ortho'`` (default) keeps the output scale independent of the map size, which
    matters when one model sees 224x224 crops and 1333x800 images; ``norm='backward'`` is
    FNet's unnormalised transform. Computed in fp32 (half-precision FFT is restricted).
    """

    def __init__(self, dim: int, stride: int = 4, norm: str = 'ortho'):
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.fft2(x.float(), dim=(-2, -1), norm=self.norm).real.to(x.dtype)
