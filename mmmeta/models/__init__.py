"""Models: the arch table, building blocks, token mixers and the MetaFormer backbone family."""
from .archs import ARCHS, resolve_arch
from .layers import build_act, build_norm
from .metaformer import MetaFormer, MetaFormerBlock
from .mixers import MIXERS, build_mixer

__all__ = ['ARCHS', 'MIXERS', 'MetaFormer', 'MetaFormerBlock', 'build_act', 'build_mixer',
           'build_norm', 'resolve_arch']
