"""Models: building blocks, token mixers and the MetaFormer backbone family."""
from .layers import build_act, build_norm
from .metaformer import ARCHS, MetaFormer, MetaFormerBlock, resolve_arch
from .mixers import MIXERS, build_mixer

__all__ = ['ARCHS', 'MIXERS', 'MetaFormer', 'MetaFormerBlock', 'build_act', 'build_mixer',
           'build_norm', 'resolve_arch']
