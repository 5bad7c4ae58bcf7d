"""Strict, explained loading of a whole-model checkpoint (``load_from``, ``tools/test.py
CHECKPOINT``): refuse a file that fills less of the model than it needs, and say what the
file looks like and what to do.

mmengine loads these files with ``strict=False`` and only logs the missing keys, so a
RetinaNet checkpoint evaluated with a Semantic FPN config printed an mIoU (of a random head)
and exited 0, and a backbone file given as CHECKPOINT loaded 0 tensors and reported mAP 0.000.
:func:`check_checkpoint_fits` compares the file with the built model before anything runs.
"""
import re
from collections import Counter, OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from .checkpoint import (
    CheckpointError,
    _shape_summary,
    convert_backbone,
    convert_prefixed,
    detect_layout,
    unwrap,
)
from .models.metaformer import MetaFormer

StateDict = Dict[str, torch.Tensor]
# mmengine strips this from checkpoint keys before loading (Runner.load_checkpoint).
_MODULE_PREFIX = re.compile(r'^module\.')


def model_for_loading(model: nn.Module) -> nn.Module:
    """The module whose state dict a checkpoint fills: inside DDP and TTA wrappers."""
    from mmengine.model import BaseTTAModel, is_model_wrapper
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def file_state(raw) -> StateDict:
    """The tensors of a checkpoint as mmengine would load them (``module.`` stripped)."""
    state = unwrap(raw)
    return OrderedDict((_MODULE_PREFIX.sub('', k), v) for k, v in state.items()
                       if torch.is_tensor(v))


def _backbone_phrase(state: StateDict) -> str:
    try:
        converted, layout, _ = convert_backbone(state)
    except CheckpointError:
        return f'a backbone that is not a MetaFormer ({len(state)} tensors)'
    return f'a MetaFormer backbone of {_shape_summary(converted)} [{layout} layout]'


def backbone_only_layout(state: StateDict) -> Optional[str]:
    """The published layout of a file holding only a backbone (official/timm/mmpretrain/
    sail-sg/mmmeta names, no ``backbone.`` prefix), else None."""
    if not state or any(k.startswith('backbone.') for k in state):
        return None
    try:
        return detect_layout(state)
    except CheckpointError:
        return None


def describe_state(state: StateDict) -> str:
    """What a checkpoint holds: 'a one-stage detector (bbox_head) with a MetaFormer backbone
    of depths (2, 2, 6, 2), dims (64, 128, 320, 512) (like poolformer_s12) [...]'."""
    tops = Counter(k.split('.')[0] for k in state)
    if 'backbone' in tops:
        backbone = {k[len('backbone.'):]: v for k, v in state.items()
                    if k.startswith('backbone.')}
        if 'decode_head' in tops:
            kind = 'a segmentor (decode_head)'
        elif 'roi_head' in tops or 'rpn_head' in tops:
            kind = 'a two-stage detector (rpn_head, roi_head)'
        elif 'bbox_head' in tops:
            kind = 'a one-stage detector (bbox_head)'
        elif 'head' in tops:
            kind = 'a classifier (head)'
        elif len(tops) == 1:
            return f'a backbone alone (keys under backbone.): {_backbone_phrase(backbone)}'
        else:
            kind = f'a model with parts {", ".join(sorted(tops))}'
        return f'{kind} with {_backbone_phrase(backbone)}'
    layout = backbone_only_layout(state)
    if layout is not None:
        has_head = any(k.startswith(('head.', 'fc.', 'classifier.')) for k in state)
        extra = ' plus an ImageNet classifier head' if has_head else ''
        return f'a backbone-only file: {_backbone_phrase(state)}{extra}'
    names = ', '.join(f'{k}.*' for k in sorted(tops)[:6])
    return f'{len(state)} tensors under {names}, not a layout mmmeta knows'


def describe_model(model: nn.Module) -> str:
    backbone = getattr(model, 'backbone', None)
    if isinstance(backbone, MetaFormer):
        return (f'{type(model).__name__} with a MetaFormer backbone of '
                f'{_shape_summary(backbone.state_dict())}')
    return type(model).__name__


def _group(keys: List[str]) -> str:
    groups = Counter(k.split('.')[0] for k in keys)
    return ', '.join(f'{g}.* ({n})' for g, n in sorted(groups.items()))


def coverage(model: nn.Module, state: StateDict) -> Tuple[List[str], List[str], List[str],
                                                          List[str]]:
    """(matched, missing, wrong shape, unused) keys of ``state`` against ``model``, after the
    layout conversion a MetaFormer backbone applies when it loads."""
    own = model.state_dict()
    state = dict(state)
    if isinstance(getattr(model, 'backbone', None), MetaFormer):
        convert_prefixed(state, 'backbone.')
    needed = [k for k in own if not k.endswith('num_batches_tracked')]
    matched = [k for k in needed if k in state and state[k].shape == own[k].shape]
    wrong_shape = [k for k in needed if k in state and state[k].shape != own[k].shape]
    missing = [k for k in needed if k not in state]
    unused = [k for k in state if k not in own]
    return matched, missing, wrong_shape, unused


def check_checkpoint_fits(model: nn.Module, state: StateDict, path: str, source: str,
                          allow_partial: bool) -> str:
    """Raise :class:`CheckpointError` (one paragraph: counts, what the file looks like, the
    fix) unless ``state`` fills every tensor of ``model`` or ``allow_partial``; returns a
    one-line report to log."""
    model = model_for_loading(model)
    matched, missing, wrong_shape, unused = coverage(model, state)
    needed = len(matched) + len(missing) + len(wrong_shape)
    if not missing and not wrong_shape:
        return f'{source} {path}: all {needed} tensors of the model loaded'
    parts = []
    if missing:
        parts.append(f'missing {_group(missing)}')
    if wrong_shape:
        k = wrong_shape[0]
        parts.append(f'{len(wrong_shape)} of a different shape (e.g. {k}: file '
                     f'{tuple(state[k].shape) if k in state else "?"} vs model '
                     f'{tuple(model.state_dict()[k].shape)})')
    if unused:
        parts.append(f'unused in the file: {_group(unused)}')
    summary = (f'{source} {path} fills {len(matched)} of the {needed} tensors of the model '
               f'({"; ".join(parts)}). The file is {describe_state(state)}; the config builds '
               f'{describe_model(model)}.')
    if allow_partial:
        return summary + ' Loading only the matching tensors (--allow-partial).'
    raise CheckpointError(
        f'{summary} Use the config the checkpoint was trained with (or the checkpoint of '
        f'this config); to start only the backbone from it, set '
        f"model.backbone.init_cfg=dict(type='Pretrained', checkpoint='{path}', "
        f"prefix='backbone.'); or pass --allow-partial to load the matching tensors on "
        f'purpose.')
