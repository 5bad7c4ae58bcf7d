"""The MetaFormer architecture table: every published variant as a dict of settings.

Plain data and the functions that resolve a name (or a dict) plus overrides into full settings;
no model code, so checkpoint tools, analysis and configs can read it without building a model.
Every published variant is an entry of :data:`ARCHS`: PoolFormer v1 (S12..M48), PoolFormerV2,
IdentityFormer and RandFormer (S12..M48), ConvFormer and CAFormer (S18/S36/M36/B36) and the v1
paper's ablation models (``metaformer_{id,pppa,ppaa,pppf,ppff}_s12``, sail-sg/poolformer
``models/metaformer.py``).
"""
import copy
from typing import Dict, Union

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
POOLFORMER_V1_DEFAULTS = dict(
    norm_cfg=dict(type='GN1', eps=1e-5), act_cfg='GELU', mlp_bias=True, stem_norm_cfg=None,
    downsample_norm_cfg=None, res_scale_init=None, out_norm=True, init_style='v1')
# v2 ("MetaFormer baselines"): bias-free norms (eps 1e-6), StarReLU, bias-free MLP, a bias-free
# channel LayerNorm after the stem and before each downsampling, residual scale in stages 3-4.
# Init: truncated normal (std 0.02) on every conv and Linear.
BIAS_FREE_CHANNEL_LN = dict(type='LN2d', eps=1e-6, bias=False)
METAFORMER_V2_DEFAULTS = dict(
    norm_cfg=dict(type='GN1', eps=1e-6, bias=False), act_cfg='StarReLU', mlp_bias=False,
    stem_norm_cfg=BIAS_FREE_CHANNEL_LN, downsample_norm_cfg=BIAS_FREE_CHANNEL_LN,
    layer_scale_init=None, res_scale_init=(None, None, 1.0, 1.0), out_norm=False,
    init_style='v2')
# ConvFormer / CAFormer: v2 with the channel LayerNorm as the block norm too.
METAFORMER_V2_LN_DEFAULTS = dict(METAFORMER_V2_DEFAULTS, norm_cfg=BIAS_FREE_CHANNEL_LN)


def _table() -> Dict[str, dict]:
    v1, v2, v2_ln = POOLFORMER_V1_DEFAULTS, METAFORMER_V2_DEFAULTS, METAFORMER_V2_LN_DEFAULTS
    archs = {}
    for size, (depths, dims, layer_scale) in _POOL_SIZES.items():
        shape = dict(depths=depths, dims=dims)
        archs[f'poolformer_{size}'] = dict(v1, **shape, layer_scale_init=layer_scale,
                                           token_mixers='pooling')
        archs[f'poolformerv2_{size}'] = dict(v2, **shape, token_mixers='pooling')
        archs[f'identityformer_{size}'] = dict(v2, **shape, token_mixers='identity')
        archs[f'randformer_{size}'] = dict(
            v2, **shape, token_mixers=('identity', 'identity', 'random', 'random'))
    for size, (depths, dims) in _CONV_SIZES.items():
        shape = dict(depths=depths, dims=dims)
        archs[f'convformer_{size}'] = dict(v2_ln, **shape, token_mixers='sepconv')
        archs[f'caformer_{size}'] = dict(
            v2_ln, **shape, token_mixers=('sepconv', 'sepconv', 'attention', 'attention'))
    # The v1 paper's ablation models (sail-sg/poolformer models/metaformer.py), on the S12 body
    # with layer scale 1e-5. 'a': attention (bias on proj only) after a learned position
    # embedding added in front of the first attention stage; 'f': spatial FC over 14x14 / 7x7
    # tokens. The attention models use a channel LayerNorm (eps 1e-5), the others GroupNorm-1.
    s12 = dict(v1, **shape_of('s12'), layer_scale_init=1e-5)
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
    """Depths and dims of a PoolFormer size ('s12' ... 'm48')."""
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
        # keys the dict does not give take the v1 defaults
        base = dict(POOLFORMER_V1_DEFAULTS, **arch)
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
