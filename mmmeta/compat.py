"""Compatibility fixes that let the pinned OpenMMLab stack run on recent torch, applied on import.

Nothing here edits site-packages; everything is a documented extension point.

* ``torch.load`` defaults to ``weights_only=True`` since torch 2.6, and mmengine 0.10.7 does not
  pass ``weights_only``, so ``--resume``, ``load_from`` and ``tools/test.py CKPT`` failed on the
  checkpoints mmengine itself writes (``Unsupported global: ...HistoryBuffer``). Rather than
  switching to unsafe unpickling, we allow-list the few plain-data classes those checkpoints
  contain (mmengine's HistoryBuffer and numpy arrays/dtypes/scalars). HistoryBuffer also
  pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')``; instead of allowing
  ``getattr`` (which would reopen arbitrary code execution) we map that global to a guard that
  only resolves HistoryBuffer's own statistics methods. Every file, ours or a third party's,
  keeps loading through the safe ``weights_only`` unpickler, which still refuses other code.
"""
import pickle
from typing import List

import torch


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
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 has no allow-list and no weights_only default
        add(checkpoint_safe_globals())


allow_mmengine_checkpoints()
