"""The MetaFormer backbone family as one table of configurations over a few small modules.

``Y = X + LS1 * DropPath(TokenMixer(Norm1(X)))``, then ``Z = Y + LS2 * DropPath(MLP(Norm2(Y)))``
(with an optional per-channel residual scale on X and Y, as in MetaFormer v2).

Every published variant is an entry of :data:`ARCHS`: PoolFormer v1 (S12..M48), PoolFormerV2,
IdentityFormer and RandFormer (S12..M48), ConvFormer and CAFormer (S18/S36/M36/B36) and the v1
paper's ablation models (``metaformer_{id,pppa,ppaa,pppf,ppff}_s12``, sail-sg/poolformer
``models/metaformer.py``).
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule

from ..checkpoint import state_dict_pre_hook
from .fast import fused_stage, stage_is_fusable
from .layers import CfgType, DropPath, Mlp, PositionEmbedding, build_norm, optional_scale
from .mixers import build_mixer

# ----------------------------------------------------------------------------------------------
# The architecture table
# ----------------------------------------------------------------------------------------------
_S_DIMS, _M_DIMS = (64, 128, 320, 512), (96, 192, 384, 768)
_POOL_SIZES = {  # name: (depths, dims, v1 layer-scale init)
    's12': ((2, 2, 6, 2), _S_DIMS, 1e-5),
    's24': ((4, 4, 12, 4), _S_DIMS, 1e-5),
    's36': ((6, 6, 18, 6), _S_DIMS, 1e-6),
    'm36': ((6, 6, 18, 6), _M_DIMS, 1e-6),
    'm48': ((8, 8, 24, 8), _M_DIMS, 1e-6),
}
_CONV_SIZES = {  # ConvFormer / CAFormer: same names, different shapes than the pool family
    's18': ((3, 3, 9, 3), _S_DIMS),
    's36': ((3, 12, 18, 3), _S_DIMS),
    'm36': ((3, 12, 18, 3), (96, 192, 384, 576)),
    'b36': ((3, 12, 18, 3), (128, 256, 512, 768)),
}
# v1: GroupNorm-1 with bias, GELU MLP with biases, no norm in stem/downsampling, layer scale,
# a norm on every output (as the authors' dense-prediction code does).
# The authors' v1 init: truncated normal on the MLP's 1x1 convs and on Linear layers only; the
# stem and downsampling convs keep PyTorch's default init.
V1 = dict(norm_cfg=dict(type='GN1', eps=1e-5), act_cfg='GELU', mlp_bias=True,
          stem_norm_cfg=None, downsample_norm_cfg=None, res_scale_init=None, out_norm=True,
          init_style='v1')
# v2 ("MetaFormer baselines"): bias-free norms (eps 1e-6), StarReLU, bias-free MLP, a bias-free
# channel LayerNorm after the stem and before each downsampling, residual scale in stages 3-4.
# Init: truncated normal (std 0.02) on every conv and Linear.
_LN_NB = dict(type='LN2d', eps=1e-6, bias=False)
V2 = dict(norm_cfg=dict(type='GN1', eps=1e-6, bias=False), act_cfg='StarReLU', mlp_bias=False,
          stem_norm_cfg=_LN_NB, downsample_norm_cfg=_LN_NB, layer_scale_init=None,
          res_scale_init=(None, None, 1.0, 1.0), out_norm=False, init_style='v2')
V2_CONV = dict(V2, norm_cfg=_LN_NB)


def _table() -> Dict[str, dict]:
    archs = {}
    for size, (depths, dims, ls) in _POOL_SIZES.items():
        shape = dict(depths=depths, dims=dims)
        archs[f'poolformer_{size}'] = dict(V1, **shape, layer_scale_init=ls, token_mixers='pooling')
        archs[f'poolformerv2_{size}'] = dict(V2, **shape, token_mixers='pooling')
        archs[f'identityformer_{size}'] = dict(V2, **shape, token_mixers='identity')
        archs[f'randformer_{size}'] = dict(V2, **shape,
                                           token_mixers=('identity', 'identity', 'random', 'random'))
    for size, (depths, dims) in _CONV_SIZES.items():
        shape = dict(depths=depths, dims=dims)
        archs[f'convformer_{size}'] = dict(V2_CONV, **shape, token_mixers='sepconv')
        archs[f'caformer_{size}'] = dict(V2_CONV, **shape,
                                         token_mixers=('sepconv', 'sepconv', 'attention', 'attention'))
    # The v1 paper's ablation models (sail-sg/poolformer models/metaformer.py), on the S12 body
    # with layer scale 1e-5. 'a': attention (bias on proj only) after a learned position
    # embedding added in front of the first attention stage; 'f': spatial FC over 14x14 / 7x7
    # tokens. The attention models use a channel LayerNorm (eps 1e-5), the others GroupNorm-1.
    s12 = dict(V1, **shape_of('s12'), layer_scale_init=1e-5)
    attn = dict(type='attention', proj_bias=True)
    ln = dict(type='LN2d', eps=1e-5)
    archs['metaformer_id_s12'] = dict(s12, token_mixers='identity')
    archs['metaformer_pppa_s12'] = dict(s12, norm_cfg=ln, pos_embed=(None, None, None, 7),
                                        token_mixers=('pooling',) * 3 + (attn,))
    archs['metaformer_ppaa_s12'] = dict(s12, norm_cfg=ln, pos_embed=(None, None, 14, None),
                                        token_mixers=('pooling', 'pooling', attn, attn))
    archs['metaformer_pppf_s12'] = dict(s12, token_mixers=('pooling',) * 3 + ('spatial_mlp',))
    archs['metaformer_ppff_s12'] = dict(s12, token_mixers=('pooling',) * 2 + ('spatial_mlp',) * 2)
    return archs


def shape_of(size: str) -> dict:
    depths, dims, _ = _POOL_SIZES[size]
    return dict(depths=depths, dims=dims)


ARCHS: Dict[str, dict] = _table()
# Earlier names that still work.
ARCH_ALIASES = {'poolformer_hybrid_s12': 'metaformer_ppaa_s12'}
ARCH_KEYS = ('depths', 'dims', 'token_mixers', 'mlp_ratio', 'mlp_bias', 'act_cfg', 'norm_cfg',
             'stem_norm_cfg', 'downsample_norm_cfg', 'layer_scale_init', 'res_scale_init',
             'out_norm', 'stem_cfg', 'downsample_cfg', 'proj_drop', 'pos_embed', 'init_style')
ARCH_DEFAULTS = dict(mlp_ratio=4.0, stem_cfg=dict(kernel_size=7, stride=4, padding=2),
                     downsample_cfg=dict(kernel_size=3, stride=2, padding=1), proj_drop=0.0,
                     layer_scale_init=None, token_mixers='pooling', pos_embed=None)
# Keys for which None says "off" (no norm, no scale, ...); for every other key an override of
# None means "the arch's own value", as a config that lists all keys with None expects.
NONE_MEANS_OFF = ('stem_norm_cfg', 'downsample_norm_cfg', 'layer_scale_init', 'res_scale_init',
                  'pos_embed')


def arch_key(name: str) -> str:
    """The table key of an arch name: case, '-' and the authors' ``_224`` suffix forgiven."""
    key = name.lower().replace('-', '_')
    key = key[:-len('_224')] if key.endswith('_224') else key
    return ARCH_ALIASES.get(key, key)


def resolve_arch(arch: Union[str, dict], **overrides) -> dict:
    """Return the full settings of ``arch`` (a name from :data:`ARCHS` or a dict) + overrides."""
    if isinstance(arch, str):
        key = arch_key(arch)
        if key not in ARCHS:
            raise ValueError(f'unknown MetaFormer arch {arch!r}; valid names: '
                             f'{", ".join(sorted(ARCHS))} (or pass a dict with depths and dims)')
        base = ARCHS[key]
    elif isinstance(arch, dict):
        base = dict(V1, **arch)  # keys the dict does not give take the v1 defaults
        missing = {'depths', 'dims'} - set(base)
        if missing:
            raise ValueError(f'a custom arch dict needs {sorted(missing)}; got {sorted(arch)}')
    else:
        raise TypeError(f'arch must be a name or a dict, got {type(arch).__name__}')
    unknown = set(overrides) - set(ARCH_KEYS)
    if unknown:
        raise TypeError(f'unknown MetaFormer argument(s) {sorted(unknown)}; architecture keys are '
                        f'{list(ARCH_KEYS)}')
    overrides = {k: v for k, v in overrides.items() if v is not None or k in NONE_MEANS_OFF}
    cfg = copy.deepcopy({**ARCH_DEFAULTS, **base, **overrides})
    if len(cfg['depths']) != len(cfg['dims']):
        raise ValueError(f'depths {cfg["depths"]} and dims {cfg["dims"]} differ in length')
    if cfg['init_style'] not in ('v1', 'v2'):
        raise ValueError(f"init_style must be 'v1' (trunc-normal on MLP convs and Linear only, "
                         f"as the PoolFormer code) or 'v2' (on every conv and Linear), got "
                         f"{cfg['init_style']!r}")
    if isinstance(overrides.get('token_mixers'), (list, tuple)) and \
            any(m is None for m in overrides['token_mixers']):
        # a None entry keeps that stage's mixer of the arch
        own = per_stage(dict(ARCH_DEFAULTS, **base)['token_mixers'], len(cfg['depths']),
                        'token_mixers')
        mixers = per_stage(overrides['token_mixers'], len(cfg['depths']), 'token_mixers')
        cfg['token_mixers'] = [o if m is None else m for m, o in zip(mixers, own)]
    return cfg


def per_stage(value, n: int, name: str) -> list:
    """Broadcast a scalar (or a single config) to ``n`` stages; check list lengths."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f'{name} has {len(value)} entries but the model has {n} stages')
        return list(value)
    return [value] * n


# ----------------------------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------------------------
class ConvNorm(nn.Module):
    """A strided conv with optional norms before/after: the stem and the downsampling layers."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int, padding: int,
                 pre_norm_cfg: CfgType = None, post_norm_cfg: CfgType = None):
        super().__init__()
        if pre_norm_cfg is not None:
            self.norm = build_norm(pre_norm_cfg, in_ch)
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding)
        if post_norm_cfg is not None:
            self.norm = build_norm(post_norm_cfg, out_ch)
        self.pre = pre_norm_cfg is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre:
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
        norm_cfg = norm_cfg if norm_cfg is not None else V1['norm_cfg']
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
        self.arch_name = arch if isinstance(arch, str) else 'custom'
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
        ls = per_stage(cfg['layer_scale_init'], n, 'layer_scale_init')
        rs = per_stage(cfg['res_scale_init'], n, 'res_scale_init')
        checkpointed = per_stage(with_cp, n, 'with_cp')
        pos = per_stage(cfg['pos_embed'], n, 'pos_embed')
        total = sum(depths)  # stochastic depth growing linearly from 0 to drop_path_rate
        dpr = [drop_path_rate * j / max(total - 1, 1) for j in range(total)]
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
                cfg['norm_cfg'], dpr[start + j], cfg['proj_drop'], ls[i], rs[i])
                for j in range(depths[i])]
            start += depths[i]
            pe = PositionEmbedding(dims[i], pos[i]) if pos[i] is not None else None
            stages.append(MetaFormerStage(down, blocks, bool(checkpointed[i]), pe))
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
            from ..checkpoint import load_pretrained
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
