"""mmmeta: MetaFormer backbones (PoolFormer and family) for OpenMMLab.

Importing the package registers its backbones into mmengine and into every installed
OpenMMLab library (mmdet, mmseg, mmpretrain), and applies the small compatibility fixes the
pinned stack needs on recent torch (see :mod:`mmmeta.compat`).
"""
from . import (
    compat,  # noqa: F401  (applied on import)
    hooks,  # noqa: F401  (registers SafeCheckpointHook, DivergenceGuardHook)
)
from .files import register_checkpoint_loader

try:  # registers LoadImageFromFileOrSkip (needs mmcv, which every library here has)
    from . import transforms  # noqa: F401
except ImportError:
    pass
from .models import ARCHS, MIXERS, MetaFormer, build_mixer
from .registry import MODELS, register_everywhere
from .version import __version__

register_everywhere(MetaFormer)
register_checkpoint_loader()  # local checkpoints: safe reading, one sentence per broken file

__all__ = ['ARCHS', 'MIXERS', 'MODELS', 'MetaFormer', 'build_mixer', '__version__']
