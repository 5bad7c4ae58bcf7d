"""Compatibility fixes that let the pinned OpenMMLab stack run on recent torch, applied on import.

Nothing here edits site-packages; everything is a documented extension point.

* ``torch.load`` defaults to ``weights_only=True`` since torch 2.6 and mmengine 0.10.7 does not
  pass ``weights_only``: the safe allow-list for mmengine's own checkpoints lives in the
  top-level module ``_mmmeta_safe_load`` (also started by ``mmmeta-safe-load.pth`` for programs
  that never import mmmeta, such as the stock mmseg/mmdet tools).
"""
from _mmmeta_safe_load import allow_mmengine_checkpoints, checkpoint_safe_globals

__all__ = ['allow_mmengine_checkpoints', 'checkpoint_safe_globals']

allow_mmengine_checkpoints()
