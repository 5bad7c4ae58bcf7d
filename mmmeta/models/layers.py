"""Small building blocks shared by every MetaFormer variant: norms, activations, scales, MLP.

All modules work on NCHW tensors. Norm and activation configs are plain dicts (or names), so a
config file can swap them per experiment, as the paper's ablations do.
"""
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

CfgType = Union[str, dict, None]


class GroupNorm1(nn.GroupNorm):
    """GroupNorm with one group ("Modified LayerNorm" of PoolFormer): statistics over (C, H, W).

    ``bias=False`` gives the v2 bias-free form (the bias slot stays ``None``).
    """

    def __init__(self, num_channels: int, eps: float = 1e-5, bias: bool = True):
        super().__init__(1, num_channels, eps=eps)
        if not bias:
            self.bias = None


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels of an NCHW tensor (statistics per pixel)."""

    def __init__(self, num_channels: int, eps: float = 1e-6, bias: bool = True):
        super().__init__(num_channels, eps=eps)
        if not bias:
            self.bias = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)


class BatchNorm2d(nn.BatchNorm2d):
    """BatchNorm with the same ``(num_channels, eps, bias)`` signature as the other norms."""

    def __init__(self, num_channels: int, eps: float = 1e-5, bias: bool = True):
        super().__init__(num_channels, eps=eps)
        if not bias:
            self.bias = None


NORMS = {'GN1': GroupNorm1, 'MLN': GroupNorm1, 'LN2d': LayerNorm2d, 'LN': LayerNorm2d,
         'BN': BatchNorm2d}


def _build(table: dict, what: str, cfg: CfgType, *args) -> nn.Module:
    """``table[type](*args, **options)`` from a name or ``dict(type=..., **options)``; None ->
    Identity."""
    if cfg is None:
        return nn.Identity()
    cfg = dict(type=cfg) if isinstance(cfg, str) else dict(cfg)
    kind = cfg.pop('type')
    if kind not in table:
        raise ValueError(f'unknown {what} type {kind!r}; choose one of {sorted(table)}')
    return table[kind](*args, **cfg)


def build_norm(cfg: CfgType, num_channels: int) -> nn.Module:
    """Build a norm from ``dict(type='GN1'|'LN2d'|'BN', eps=..., bias=...)``; None -> Identity."""
    return _build(NORMS, 'norm', cfg, num_channels)


class StarReLU(nn.Module):
    """StarReLU from MetaFormer v2: ``s * relu(x) ** 2 + b`` with learnable scalars s and b."""

    def __init__(self, scale: float = 1.0, bias: float = 0.0):
        super().__init__()
        self.scale = nn.Parameter(torch.full((1,), float(scale)))
        self.bias = nn.Parameter(torch.full((1,), float(bias)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * F.relu(x) ** 2 + self.bias


ACTS = {'GELU': nn.GELU, 'ReLU': nn.ReLU, 'SiLU': nn.SiLU, 'StarReLU': StarReLU,
        'Identity': nn.Identity}


def build_act(cfg: CfgType) -> nn.Module:
    """Build an activation from a name or ``dict(type=...)``; None -> Identity."""
    return _build(ACTS, 'activation', cfg)


class Scale(nn.Module):
    """Per-channel learnable scale of an NCHW tensor (layer scale / residual scale)."""

    def __init__(self, dim: int, init_value: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.view(-1, 1, 1)


def optional_scale(dim: int, init_value: Optional[float]) -> nn.Module:
    return nn.Identity() if init_value is None else Scale(dim, init_value)


class DropPath(nn.Module):
    """Stochastic depth per sample (drops the whole residual branch)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f'p={self.p}'


class Mlp(nn.Module):
    """Channel MLP as two 1x1 convs: C -> ratio*C -> C."""

    def __init__(self, dim: int, ratio: float = 4.0, act_cfg: CfgType = 'GELU',
                 bias: bool = True, drop: float = 0.0):
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Conv2d(dim, hidden, 1, bias=bias)
        self.act = build_act(act_cfg)
        self.fc2 = nn.Conv2d(hidden, dim, 1, bias=bias)
        self.drop = nn.Dropout(drop) if drop > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class PositionEmbedding(nn.Module):
    """A learned position embedding added to an NCHW map (the v1 ablation models' hybrids).

    It is learned for the stage's token grid at 224x224 input (``grid`` x ``grid``). For any
    other map size it is resized to the map with bicubic interpolation (``align_corners=False``,
    as mmdet/mmseg/mmpretrain resize ViT position embeddings); at the learned size it is added
    unchanged, which is the authors' operator exactly.
    """

    def __init__(self, dim: int, grid: int):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, dim, grid, grid))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = self.pos_embed
        if pos.shape[-2:] != x.shape[-2:]:
            pos = F.interpolate(pos, size=x.shape[-2:], mode='bicubic', align_corners=False)
        return x + pos
