"""mmmeta: MetaFormer backbones (PoolFormer and family) for OpenMMLab.

Importing the package registers its backbones into mmengine and into every installed
OpenMMLab library (mmdet, mmseg, mmpretrain), and applies the small compatibility fixes the
pinned stack needs on recent torch (see :mod:`mmmeta.compat`).
"""
from . import compat  # noqa: F401  (applied on import)
from .models import ARCHS, MIXERS, MetaFormer, build_mixer
from .registry import MODELS, register_everywhere
from .version import __version__

register_everywhere(MetaFormer)

__all__ = ['ARCHS', 'MIXERS', 'MODELS', 'MetaFormer', 'build_mixer', '__version__']
