"""The MetaFormer backbone family: a few small modules built from one table of configurations.

``Y = X + LS1 * DropPath(TokenMixer(Norm1(X)))``, then ``Z = Y + LS2 * DropPath(MLP(Norm2(Y)))``
(with an optional per-channel residual scale on X and Y, as in MetaFormer v2).

Every published variant is an entry of :data:`mmmeta.models.archs.ARCHS` (re-exported here).
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule

from ..checkpoint import load_pretrained
from ..checkpoint_keys import state_dict_pre_hook
from .archs import ARCHS, POOLFORMER_V1_DEFAULTS, per_stage, resolve_arch
from .fast import fused_stage, stage_is_fusable
from .layers import CfgType, DropPath, Mlp, PositionEmbedding, build_norm, optional_scale
from .mixers import build_mixer


class ConvNorm(nn.Module):
    """A strided conv with an optional norm before it (v2 downsampling) or after it (v2 stem):
    the stem and the downsampling layers. The norm is the ``norm`` submodule either way, its
    state-dict name in every published layout."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int, padding: int,
                 pre_norm_cfg: CfgType = None, post_norm_cfg: CfgType = None):
        super().__init__()
        if pre_norm_cfg is not None and post_norm_cfg is not None:
            raise ValueError(f'ConvNorm takes a norm before the conv (pre_norm_cfg) or after it '
                             f'(post_norm_cfg), not both; got {pre_norm_cfg!r} and '
                             f'{post_norm_cfg!r}')
        self.norm_first = pre_norm_cfg is not None
        if self.norm_first:
            self.norm = build_norm(pre_norm_cfg, in_ch)
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding)
        if post_norm_cfg is not None:
            self.norm = build_norm(post_norm_cfg, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_first:
            return self.conv(self.norm(x))
        x = self.conv(x)
        return self.norm(x) if hasattr(self, 'norm') else x


class MetaFormerBlock(nn.Module):
    """One MetaFormer block; the token mixer is any module from :mod:`mmmeta.models.mixers`."""

    def __init__(self, dim: int, stride: int, token_mixer: Union[str, dict, None] = 'pooling',
                 mlp_ratio: float = 4.0, mlp_bias: bool = True, act_cfg: CfgType = 'GELU',
                 norm_cfg: CfgType = None, drop_path: float = 0.0, proj_drop: float = 0.0,
                 layer_scale_init: Optional[float] = None, res_scale_init: Optional[float] = None):
        super().__init__()
        norm_cfg = norm_cfg if norm_cfg is not None else POOLFORMER_V1_DEFAULTS['norm_cfg']
        self.norm1 = build_norm(norm_cfg, dim)
        self.token_mixer = build_mixer(token_mixer, dim, stride)
        self.layer_scale1 = optional_scale(dim, layer_scale_init)
        self.res_scale1 = optional_scale(dim, res_scale_init)
        self.norm2 = build_norm(norm_cfg, dim)
        self.mlp = Mlp(dim, mlp_ratio, act_cfg, mlp_bias, proj_drop)
        self.layer_scale2 = optional_scale(dim, layer_scale_init)
        self.res_scale2 = optional_scale(dim, res_scale_init)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.res_scale1(x) + self.layer_scale1(self.drop_path(self.token_mixer(self.norm1(x))))
        return self.res_scale2(x) + self.layer_scale2(self.drop_path(self.mlp(self.norm2(x))))


class MetaFormerStage(nn.Module):
    """Optional downsampling and position embedding, followed by ``depth`` blocks."""

    def __init__(self, downsample: nn.Module, blocks: List[nn.Module], with_cp: bool = False,
                 pos_embed: Optional[nn.Module] = None):
        super().__init__()
        self.downsample = downsample
        if pos_embed is not None:  # only where an arch has one: keeps the state-dict keys
            self.pos_embed = pos_embed
        self.blocks = nn.Sequential(*blocks)
        self.with_cp = with_cp

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """What runs before the blocks: downsampling, then the position embedding if any."""
        x = self.downsample(x)
        return self.pos_embed(x) if hasattr(self, 'pos_embed') else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        if self.with_cp and self.training and torch.is_grad_enabled():
            for blk in self.blocks:
                x = cp.checkpoint(blk, x, use_reentrant=False)
            return x
        return self.blocks(x)


class MetaFormer(BaseModule):
    """Four-stage MetaFormer backbone for dense prediction and classification.

    Args:
        arch: a name from ``MetaFormer.arch_zoo`` (e.g. ``'poolformer_s12'``, ``'caformer_s18'``)
            or a dict with at least ``depths`` and ``dims``; any architecture key may also be
            given as a keyword to override the named arch (see ``ARCH_KEYS``), e.g.
            ``token_mixers=['pooling', 'pooling', 'attention', 'attention']``. An override of
            ``None`` (or a ``None`` entry in ``token_mixers``) keeps the arch's own value, except
            for the keys in ``NONE_MEANS_OFF``, where it turns the part off.
        in_channels: input image channels.
        out_indices: stages (0-3, negatives allowed) whose maps are returned, at strides
            4/8/16/32. Stages after the last one requested are not built.
        out_norm: add a norm on each returned map (``None``: the arch's default, on for v1).
        out_norm_cfg: that norm (default: the block norm type, with bias).
        frozen_stages: -1 freezes nothing; k >= 0 freezes the stem and the first k stages
            (parameters and norm statistics; their output norms too).
        norm_eval: keep BatchNorm layers in eval mode during training.
        with_cp: activation checkpointing (training keeps only each block's input and
            recomputes the rest in backward): a bool for every stage or one per stage.
        drop_path_rate: stochastic depth, growing linearly over all blocks.
        fast: use the fused channels-last path for pooling stages (same outputs, dtypes and
            gradients as the reference to ~1e-6, see :mod:`mmmeta.models.fast`); ``False`` runs
            the plain reference modules.
        init_cfg: mmengine init config; ``dict(type='Pretrained', checkpoint=PATH)`` loads any
            supported checkpoint layout (official v1/v2, timm, mmpretrain, mmdet/mmseg). PATH
            may be an http(s) URL (e.g. ``mmmeta.weights.WEIGHTS[arch].url``): it is
            downloaded once into the weights cache and verified (:mod:`mmmeta.download`).

    Shapes: input (N, in_channels, H, W), H, W >= 4; output a tuple of (N, dims[i], H_i, W_i),
    with H_0 = floor((H - 3) / 4) + 1 and H_{i+1} = ceil(H_i / 2).
    """
    arch_zoo = ARCHS

    def __init__(self, arch: Union[str, dict] = 'poolformer_s12', in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 out_norm: Optional[bool] = None, out_norm_cfg: CfgType = None,
                 frozen_stages: int = -1, norm_eval: bool = False,
                 with_cp: Union[bool, Sequence[bool]] = False,
                 drop_path_rate: float = 0.0, fast: bool = True, init_cfg: Optional[dict] = None,
                 **arch_overrides):
        super().__init__(init_cfg=init_cfg)
        if out_norm is not None:
            arch_overrides['out_norm'] = out_norm
        cfg = resolve_arch(arch, **arch_overrides)
        self.arch_settings = cfg
        depths, dims = list(cfg['depths']), list(cfg['dims'])
        n = len(depths)
        self.out_indices = self._check_out_indices(out_indices, n)
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= n:
            raise ValueError(f'frozen_stages must be an int in [-1, {n}] (-1: nothing frozen, '
                             f'k: stem and first k stages), got {frozen_stages!r}')
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        self.num_stages = max(self.out_indices) + 1
        self.dims = dims[:self.num_stages]

        mixers = per_stage(cfg['token_mixers'], n, 'token_mixers')
        layer_scales = per_stage(cfg['layer_scale_init'], n, 'layer_scale_init')
        res_scales = per_stage(cfg['res_scale_init'], n, 'res_scale_init')
        pos_embeds = per_stage(cfg['pos_embed'], n, 'pos_embed')
        checkpointed = per_stage(with_cp, n, 'with_cp')
        total = sum(depths)  # stochastic depth growing linearly from 0 to drop_path_rate
        drop_path_rates = [drop_path_rate * j / max(total - 1, 1) for j in range(total)]
        self.stem = ConvNorm(in_channels, dims[0], post_norm_cfg=cfg['stem_norm_cfg'],
                             **cfg['stem_cfg'])
        stages, stride, start = [], cfg['stem_cfg']['stride'], 0
        for i in range(self.num_stages):
            if i > 0:
                down = ConvNorm(dims[i - 1], dims[i], pre_norm_cfg=cfg['downsample_norm_cfg'],
                                **cfg['downsample_cfg'])
                stride *= cfg['downsample_cfg']['stride']
            else:
                down = nn.Identity()
            blocks = [MetaFormerBlock(
                dims[i], stride, mixers[i], cfg['mlp_ratio'], cfg['mlp_bias'], cfg['act_cfg'],
                cfg['norm_cfg'], drop_path_rates[start + j], cfg['proj_drop'], layer_scales[i],
                res_scales[i])
                for j in range(depths[i])]
            start += depths[i]
            pos_embed = (PositionEmbedding(dims[i], pos_embeds[i])
                         if pos_embeds[i] is not None else None)
            stages.append(MetaFormerStage(down, blocks, bool(checkpointed[i]), pos_embed))
        self.stages = nn.ModuleList(stages)

        self.out_norm = bool(cfg['out_norm'])
        if self.out_norm:
            norm_cfg = out_norm_cfg or dict(cfg['norm_cfg'], bias=True)
            for i in self.out_indices:
                self.add_module(f'norm{i}', build_norm(norm_cfg, dims[i]))
        self.fast = fast
        self.init_style = cfg['init_style']
        self.apply(self._init_default)
        self._freeze_stages()
        # Foreign checkpoint layouts (official v1/v2, timm, mmpretrain) convert while loading,
        # also when this backbone sits inside a detector/segmentor loaded with load_from.
        self._register_load_state_dict_pre_hook(state_dict_pre_hook, with_module=True)

    @staticmethod
    def _check_out_indices(out_indices, n: int) -> Tuple[int, ...]:
        idx = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        if not idx or not all(isinstance(i, int) and -n <= i < n for i in idx):
            raise ValueError(f'out_indices must be stage indices in [{-n}, {n - 1}] '
                             f'(strides 4/8/16/32 are 0/1/2/3), got {out_indices!r}')
        norm = sorted({i % n for i in idx})
        if len(norm) != len(idx):
            raise ValueError(f'out_indices {out_indices!r} name the same stage twice')
        return tuple(norm)

    def _init_default(self, m: nn.Module) -> None:
        """Truncated normal (std 0.02) weights and zero biases, on the layers the authors init:
        every conv and Linear (v2), or only the MLP's 1x1 convs and Linear layers (v1: the stem
        and downsampling convs keep PyTorch's default)."""
        if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and (
                self.init_style == 'v2' or m.kernel_size == (1, 1))):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def init_weights(self) -> None:
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            load_pretrained(self, cfg['checkpoint'], prefix=cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()

    # -------------------------------------------------------------------------------- freezing
    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        mods = [self.stem]
        for i in range(min(self.frozen_stages, self.num_stages)):
            mods.append(self.stages[i])
            if self.out_norm and i in self.out_indices:
                mods.append(getattr(self, f'norm{i}'))
        return mods

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> 'MetaFormer':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    # -------------------------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if x.dim() != 4 or x.shape[-1] < 4 or x.shape[-2] < 4:
            raise ValueError(f'MetaFormer expects an (N, C, H, W) image batch with H, W >= 4, '
                             f'got shape {tuple(x.shape)}')
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = fused_stage(stage, x) if self._use_fused(i, x) else stage(x)
            if torch.is_grad_enabled() and x.device.type == 'cpu':
                # mkldnn's conv weight gradient on channels-last maps is 2-4x slower than on
                # NCHW (measured: 268 vs 72 ms, stage-2 conv, b2 512): the next downsampling conv
                # trains on a contiguous copy
                x = x.contiguous()
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x) if self.out_norm else x
                # channel LayerNorms leave channels-last strides, which mmcv ops (RoIAlign)
                # misread: every map leaves as contiguous NCHW (free when it already is)
                outs.append(out.contiguous())
        return tuple(outs)

    @property
    def _fusable(self) -> List[bool]:
        return [stage_is_fusable(s) for s in self.stages]

    def _use_fused(self, i: int, x: Optional[torch.Tensor] = None) -> bool:
        """Whether stage ``i`` runs fused for input ``x``: only where the fused form gives the
        reference's numbers (not under autocast, whose per-op dtypes it does not follow; not
        with drop path in training)."""
        stage = self.stages[i]
        if not self.fast or not stage_is_fusable(stage):
            return False
        if x is not None and torch.is_autocast_enabled(x.device.type):
            return False
        if self.training and any(
                isinstance(b.drop_path, DropPath) and b.drop_path.p > 0 for b in stage.blocks):
            return False
        return True
