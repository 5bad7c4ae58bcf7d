"""Registration of mmmeta's models into mmengine and into each installed OpenMMLab library.

``custom_imports=dict(imports=['mmmeta'], allow_failed_imports=False)`` in an mmdet, mmseg or
mmpretrain config is all it takes: the backbone is then found as ``type='MetaFormer'`` in that
library's default scope (and as ``'mmmeta.MetaFormer'`` from anywhere). Each library is handled
on its own: a missing or broken one does not stop the others (the authors' code registered
only when both mmdet and mmseg imported).
"""
import importlib
import warnings

from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmmeta', locations=['mmmeta.models'])
# mmmeta's hooks (mmmeta.hooks) are also registered in mmengine's root HOOKS registry, which
# every library's HOOKS registry falls back to: `type='SafeCheckpointHook'` works anywhere.
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mmmeta', locations=['mmmeta.hooks'])

DOWNSTREAM = ('mmdet', 'mmseg', 'mmpretrain')


def register_everywhere(*classes) -> None:
    """Register ``classes`` into mmmeta's registry and every importable downstream registry."""
    for cls in classes:
        if cls.__name__ not in MODELS.module_dict:
            MODELS.register_module(module=cls)
    for lib in DOWNSTREAM:
        try:
            reg = importlib.import_module(f'{lib}.registry').MODELS
        except ImportError:
            continue  # not installed: nothing to register into
        except Exception as err:  # installed but broken (e.g. mmcv version assert)
            warnings.warn(f'mmmeta: not registering into {lib}: importing {lib}.registry failed '
                          f'with {type(err).__name__}: {err}')
            continue
        for cls in classes:
            have = reg.module_dict.get(cls.__name__)
            if have is None:
                reg.register_module(module=cls)
            elif have is not cls:
                raise RuntimeError(f'{lib} already registers a different {cls.__name__} '
                                   f'({have.__module__}); mmmeta cannot shadow it')
