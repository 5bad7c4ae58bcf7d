"""Reading checkpoint files and loading them into a MetaFormer backbone, with a short report.

Every published weight layout (official PoolFormer v1, sail-sg/metaformer v2, timm, mmpretrain,
the authors' mmdet/mmseg files; ``.pth`` or ``.safetensors``) is converted to mmmeta's names by
the pure functions of :mod:`mmmeta.checkpoint_keys`, re-exported here. Files are read without
executing pickled code (``weights_only=True`` / safetensors). The same conversion runs as a
load-state-dict pre-hook of the backbone, so full mmdet/mmseg checkpoints of the authors or of
mmsegmentation's model zoo load into our configs with ``load_from`` or ``tools/test.py``
directly. Backbones to compare a file with are built through the registry
(``MODELS.get('MetaFormer')``), so this module does not import the model, which imports it.
"""
import os
import re
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

from .checkpoint_keys import (  # noqa: F401
    CLASSIFIER_HINT,
    HEAD_NORM,
    HEAD_NORM_DROPPED,
    CheckpointError,
    StateDict,
    convert_backbone,
    convert_prefixed,
    detect_layout,
    place_head_norm,
    state_dict_pre_hook,
    strip_prefix,
    unwrap,
)
from .download import resolve
from .files import load_checkpoint_file
from .registry import MODELS


def build_backbone(arch: str, **kwargs) -> nn.Module:
    """``MetaFormer(arch, **kwargs)``, found in mmmeta's registry."""
    return MODELS.get('MetaFormer')(arch, **kwargs)


def known_archs() -> Dict[str, dict]:
    """The arch table of the registered backbone (``MetaFormer.arch_zoo``)."""
    return MODELS.get('MetaFormer').arch_zoo


# ------------------------------------------------------------------------------------ reading
def read_state_dict(path: str, source: str = '') -> StateDict:
    """Read a checkpoint file safely and return its (possibly nested) state dict.

    An http(s) URL is first fetched into the weights cache and verified
    (:func:`mmmeta.download.fetch`), so downloaded files take the same safe path as local ones.
    Unreadable files (empty, truncated, not a checkpoint, pickled code) raise one
    :class:`CheckpointError` sentence from :func:`mmmeta.files.load_checkpoint_file`.
    """
    path = os.path.expanduser(resolve(str(path)))
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f'checkpoint not found: {path}. Download it to that path (README, "Pretrained '
            f'weights"), point init_cfg.checkpoint / load_from at the right file, or set '
            f'model.backbone.init_cfg=None to start from random weights.')
    return unwrap(load_checkpoint_file(path, 'cpu', source), path)


# ------------------------------------------------------------------------------------ matching
def _stage_keys(state: StateDict) -> Dict[str, Tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()
            if k.startswith(('stem.', 'stages.')) and not k.endswith('num_batches_tracked')}


def arch_guess(state: StateDict) -> List[str]:
    """The archs whose backbone has exactly the keys and shapes of ``state`` (mmmeta names) in
    the stages it covers: the family shows in the keys (attention qkv, sepconv, random matrix,
    layer vs residual scales), so same-shaped families are told apart."""
    have = _stage_keys(state)
    stages = {int(k.split('.')[1]) for k in have if k.startswith('stages.')}
    if not stages:
        return []
    out = []
    for name, settings in known_archs().items():
        if len(settings['depths']) <= max(stages):
            continue
        with torch.device('meta'):
            own = _stage_keys(build_backbone(name, out_indices=max(stages),
                                             fast=False).state_dict())
        if {k: v for k, v in own.items() if not k.startswith('stages.') or
                int(k.split('.')[1]) in stages} == have:
            out.append(name)
    return out


def _shape_summary(state: StateDict) -> str:
    dims = [state[k].shape[0] for k in ('stem.conv.weight',) if k in state]
    dims += [state[f'stages.{i}.downsample.conv.weight'].shape[0]
             for i in range(1, 4) if f'stages.{i}.downsample.conv.weight' in state]
    depths = defaultdict(set)
    for k in state:
        m = re.match(r'stages\.(\d+)\.blocks\.(\d+)\.', k)
        if m:
            depths[int(m.group(1))].add(int(m.group(2)))
    d = tuple(len(depths[i]) for i in sorted(depths))
    guess = arch_guess(state)
    return f'depths {d}, dims {tuple(dims)}' + (f' (like {", ".join(guess)})' if guess else '')


def _group(keys: List[str]) -> str:
    """Compress a key list into 'prefix.* (n)' groups for a short report."""
    groups = defaultdict(int)
    for k in keys:
        m = re.match(r'(stages\.\d+|norm\d|stem|head|[^.]+)', k)
        groups[m.group(1) if m else k] += 1
    return ', '.join(f'{g}.* ({n})' for g, n in sorted(groups.items()))


def match_report(model: nn.Module, state: StateDict, source: str) -> Tuple[StateDict, str]:
    """Check ``state`` against ``model``; raise on shape mismatch, else return a short report."""
    own = model.state_dict()
    bad = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state.items()
           if k in own and v.shape != own[k].shape]
    if bad:
        k, have, want = bad[0]
        raise CheckpointError(
            f'checkpoint {source} does not match the model: {len(bad)} tensors differ in shape, '
            f'e.g. {k}: checkpoint {have} vs model {want}. The checkpoint has '
            f'{_shape_summary(state)}; the model has {_shape_summary(own)}. Choose the arch that '
            f'matches the file (or the file that matches the arch).')
    built = {int(k.split('.')[1]) for k in own if k.startswith('stages.')}
    block_off = [k for k in set(state) ^ set(own)
                 if re.match(r'stages\.(\d+)\.blocks\.', k) and int(k.split('.')[1]) in built]
    if block_off:
        blocks = lambda keys: {k.split('.')[1] + '.' + k.split('.')[3] for k in keys  # noqa
                               if re.match(r'stages\.(\d+)\.blocks\.', k)
                               and int(k.split('.')[1]) in built}
        what = ('the stages hold different numbers of blocks' if blocks(state) != blocks(own)
                else 'the blocks hold different layers (token mixers, scales)')
        raise CheckpointError(
            f'checkpoint {source} does not match the model: {what} (e.g. '
            f'{sorted(block_off)[0]} is only on one side). The checkpoint has '
            f'{_shape_summary(state)}; the model has {_shape_summary(own)}. Choose the arch '
            f'that matches the file.')
    used = {k: v for k, v in state.items() if k in own}
    if not used:
        raise CheckpointError(f'checkpoint {source} shares no tensor with the model')
    missing = [k for k in own if k not in state and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state if k not in own]
    out_norms = sorted({k.split('.')[0] for k in missing if re.match(r'norm\d\.', k)})
    other_missing = [k for k in missing if not re.match(r'norm\d\.', k)]
    lines = [f'loaded {len(used)}/{len(own)} tensors from {source}']
    if out_norms:
        lines.append(f'untrained output norms (not in the checkpoint, start from their init and '
                     f'train with the detector/segmentor): {", ".join(out_norms)}')
    if other_missing:
        lines.append(f'missing from the checkpoint: {_group(other_missing)}')
    if unexpected:
        lines.append(f'in the checkpoint but not used by this model: {_group(unexpected)}')
    return used, '\n  '.join(lines)


def load_pretrained(model: nn.Module, path: str, prefix: Optional[str] = None,
                    logger: Optional[object] = 'current') -> str:
    """Load any supported checkpoint into an mmmeta backbone and log one short report."""
    raw = read_state_dict(path)
    state = strip_prefix(raw, prefix)
    if not state:
        raise CheckpointError(f'no keys under prefix {prefix!r} in {path}')
    state, layout, dropped = convert_backbone(state)
    head_norm = place_head_norm(state, model)
    used, report = match_report(model, state, f'{path} [{layout} layout]')
    model.load_state_dict(used, strict=False)
    if dropped:
        report += f'\n  dropped {len(dropped)} {CLASSIFIER_HINT}: {_group(dropped)}'
    if head_norm:
        report += f'\n  {head_norm}'
    print_log(report, logger=logger)
    return report


def convert_file(src: str, dst: str, arch: Optional[str] = None,
                 full_model: bool = False, half: bool = False) -> str:
    """Write ``src`` (any supported layout) as an mmmeta checkpoint at ``dst``.

    Backbone files become a backbone state dict (classifier dropped). With ``full_model`` the
    whole mmdet/mmseg state dict is kept and only the keys under ``backbone.`` are converted.
    With ``arch`` the result is checked against ``MetaFormer(arch)`` first. ``half`` stores
    floating-point tensors as float16 (half the size; loading casts them back to the model's
    dtype). Returns a report.
    """
    raw = read_state_dict(src)
    if full_model:
        state = dict(raw)
        convert_prefixed(state, 'backbone.')
        layout, report = 'full model', f'converted the backbone keys of {src}'
    else:
        state, layout, dropped = convert_backbone(strip_prefix(raw))
        report = f'{src} [{layout} layout]: {len(state)} tensors'
        if dropped:
            report += f'; dropped {len(dropped)} {CLASSIFIER_HINT}: {_group(dropped)}'
        if arch:
            _, check = match_report(build_backbone(arch), state, src)
            report += '\n  ' + check
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        report += '\n  stored as float16'
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    if dst.endswith('.safetensors'):
        from safetensors.torch import save_file  # optional: only for .safetensors output
        save_file({k: v.contiguous() for k, v in state.items()}, dst,
                  metadata={'source': os.path.basename(src), 'layout': layout})
    else:
        torch.save({'state_dict': state,
                    'meta': {'source': os.path.basename(src), 'layout': layout}}, dst)
    return report + f'\n  wrote {dst}'
