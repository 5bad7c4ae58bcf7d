"""Let ``torch.load(weights_only=True)`` read mmengine training checkpoints, in every program.

torch >= 2.6 loads with ``weights_only=True`` and mmengine 0.10.7 does not pass
``weights_only``, so ``--resume``, ``load_from`` and ``test.py CKPT`` fail on the checkpoints
mmengine itself writes (``Unsupported global: ...HistoryBuffer``). Rather than switching to unsafe
unpickling, we allow-list the few plain-data classes those checkpoints hold (mmengine's
HistoryBuffer, numpy arrays/dtypes/scalars). HistoryBuffer also pickles its statistics methods as
``getattr(HistoryBuffer, 'mean')``; instead of allowing ``getattr`` (which would reopen arbitrary
code execution) that global maps to a guard resolving only HistoryBuffer's own methods.

``import mmmeta`` applies it (mmmeta.compat). The stock mmdet/mmseg/mmpretrain tools never import
mmmeta, so the installer also puts ``mmmeta-safe-load.pth`` into site-packages: it calls
:func:`install` at interpreter start-up, which costs one import-hook check per import and applies
the allow-list right after ``mmengine.runner.checkpoint`` is imported (nothing when mmengine is
never used). This module is top-level and imports neither torch nor mmmeta at start-up, so it
cannot slow down or break unrelated programs.
"""
import importlib.util
import pickle
import sys
from importlib.abc import MetaPathFinder
from typing import List

TRIGGER = 'mmengine.runner.checkpoint'


def _numpy_globals() -> List[object]:
    import numpy as np
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    found = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return found


def _history_buffer_getattr(obj: object, name: str, *default):
    """Stand-in for ``builtins.getattr`` inside checkpoints: HistoryBuffer methods only."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and not name.startswith('_') and callable(
            getattr(HistoryBuffer, name, None)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only mmengine '
        'HistoryBuffer statistics are allowed')


def checkpoint_safe_globals() -> List[object]:
    """The plain-data classes that mmengine training checkpoints pickle."""
    from mmengine.logging.history_buffer import HistoryBuffer
    return [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')] + _numpy_globals()


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read mmengine Runner checkpoints."""
    import torch
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 has no allow-list and no weights_only default
        add(checkpoint_safe_globals())


class _AfterCheckpointModule(MetaPathFinder):
    """Applies the allow-list once mmengine's checkpoint module has been executed."""

    def find_spec(self, name, path, target=None):
        if name != TRIGGER:
            return None
        sys.meta_path.remove(self)  # one shot; find the real module with the other finders
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, 'exec_module'):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            try:
                allow_mmengine_checkpoints()
            except Exception as err:  # never break the program that imported mmengine
                print(f'mmmeta-safe-load.pth: allow-list not applied ({err})', file=sys.stderr)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Called by mmmeta-safe-load.pth: apply now if mmengine is loaded, else when it is."""
    if TRIGGER in sys.modules:
        allow_mmengine_checkpoints()
    elif not any(isinstance(f, _AfterCheckpointModule) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterCheckpointModule())
