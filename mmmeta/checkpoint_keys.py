"""Checkpoint key conversion: pure functions from a published layout's names to mmmeta's.

Layouts, detected from the keys:

* ``poolformer_v1``: official ``poolformer_*.pth.tar``, mmpretrain, and the authors' mmdet/mmseg
  files (``patch_embed.proj``, ``network.{0,2,4,6}.{j}``, ``network.{1,3,5}.proj``, output norms
  ``norm{0,2,4,6}`` or the classifier's ``norm``).
* ``metaformer_v2``: sail-sg/metaformer ``*.pth`` (``downsample_layers.*``, ``stages.{i}.{j}``,
  channels-last ``nn.Linear`` weights).
* ``timm``: ``stem.*``, ``stages.{i}.downsample.*``, ``stages.{i}.blocks.{j}`` (``stages_{i}`` in
  ``features_only`` models).
* ``mmmeta``: ours (same block names as timm, output norms ``norm{i}``).

Dicts of tensors in, dicts of tensors out (like timm's ``checkpoint_filter_fn``): nothing here
reads files or builds a model, so the backbone imports it for its load-state-dict pre-hook.
Reading files and loading them into a model: :mod:`mmmeta.checkpoint`.
"""
import re
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

StateDict = Dict[str, torch.Tensor]
CLASSIFIER_HINT = 'classifier weights (not part of a backbone)'
# Converted name of an ImageNet classifier's final norm (official ``norm.*``, timm
# ``head.norm.*``) until :func:`place_head_norm` decides where it goes.
HEAD_NORM = 'head_norm.'
HEAD_NORM_DROPPED = (
    "the classifier's final norm (norm.*) is not loaded: the output norms of a dense-prediction "
    "backbone start from their init and train with the detector/segmentor, as in the authors' "
    "detection and segmentation code; it loads into norm{last} only for a backbone that "
    "returns the last stage alone (a classifier)")

# Keys whose 2-D nn.Linear weights are 1x1 convs in mmmeta.
_POINTWISE = re.compile(r'\.(mlp\.fc[12]|token_mixer\.pwconv[12])\.weight$')


class CheckpointError(ValueError):
    """A checkpoint that cannot be used for the model, with the reason and the fix."""



# ------------------------------------------------------------------------------------ containers
def unwrap(ckpt, path: str = '<checkpoint>') -> StateDict:
    """Return the tensor dict inside common checkpoint containers."""
    if isinstance(ckpt, dict):
        for key in ('state_dict', 'model', 'state_dict_ema', 'model_ema'):
            if isinstance(ckpt.get(key), dict):
                return ckpt[key]
        if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            return ckpt
    raise CheckpointError(f'{path} holds no state dict (found {type(ckpt).__name__} with keys '
                          f'{list(ckpt)[:5] if isinstance(ckpt, dict) else "-"})')


def strip_prefix(state: StateDict, prefix: Optional[str] = None) -> StateDict:
    """Keep the backbone's keys: those under ``prefix``, else under ``backbone.`` if present."""
    if prefix is None:
        prefix = 'backbone.' if any(k.startswith('backbone.') for k in state) else ''
    if prefix and not prefix.endswith('.'):
        prefix += '.'
    for wrapper in ('module.', 'model.'):  # DDP / EMA wrappers
        if prefix == '' and state and all(k.startswith(wrapper) for k in state):
            prefix = wrapper
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


# ------------------------------------------------------------------------------------ layouts
def detect_layout(keys) -> str:
    """Name the layout of backbone keys (prefix already stripped)."""
    keys = list(keys)
    has = lambda pat: any(re.match(pat, k) for k in keys)  # noqa: E731
    if has(r'network\.\d+\.\d+\.') or has(r'patch_embed\.proj\.'):
        return 'poolformer_v1'
    if has(r'downsample_layers\.\d+\.'):
        return 'metaformer_v2'
    if has(r'stem\.conv\.') or has(r'stages[._]\d+\.blocks\.'):
        return 'mmmeta' if has(r'norm\d\.') and not has(r'head\.') else 'timm'
    raise CheckpointError(
        'unrecognised checkpoint layout: expected official PoolFormer v1 (patch_embed/network.*), '
        'sail-sg/metaformer v2 (downsample_layers/stages.i.j), timm (stem/stages.i.blocks) or '
        f'mmmeta keys; first keys are {keys[:6]}')


def _v1_network_stages(keys) -> Dict[int, int]:
    """Index in the official ``network`` list -> mmmeta stage.

    The list interleaves block groups (``network.i.j.*``), downsampling (``network.i.proj``)
    and, in the ablation models, position embeddings (``network.i.pos_embed``); the last two
    belong to the stage whose blocks come next.
    """
    kinds = {}
    for k in keys:
        m = re.match(r'network\.(\d+)\.(\d+|proj|pos_embed)\b', k)
        if m:
            kinds[int(m.group(1))] = 'blocks' if m.group(2).isdigit() else m.group(2)
    stages, stage = {}, 0
    for idx in sorted(kinds):
        stages[idx] = stage
        stage += kinds[idx] == 'blocks'
    return stages


def _v1_classifier_norm(keys, stages: Dict[int, int]) -> Optional[str]:
    """The prefix of a classifier's final norm stored as an output norm: mmpretrain's PoolFormer
    (and OpenMMLab's copies of the official files) keep the official ``norm.*`` as ``norm6.*``
    (its last ``network`` index). A file whose only output norm is that one is such a
    classifier; the authors' mmdet/mmseg files have ``norm0/2/4/6``."""
    norms = {m.group(1) for m in (re.match(r'(norm\d)\.', k) for k in keys) if m}
    last = f'norm{max(stages)}' if stages else None
    return f'{last}.' if norms == {last} else None


def _v1_key(k: str, stages: Dict[int, int], head_norm: Optional[str] = None) -> Optional[str]:
    """Official/mmpretrain PoolFormer v1 name -> mmmeta name (None: classifier, dropped)."""
    if head_norm and k.startswith(head_norm):  # see _v1_classifier_norm
        return HEAD_NORM + k[len(head_norm):]
    m = re.match(r'network\.(\d+)\.(\d+)\.(.*)$', k)
    if m:
        net, j, rest = int(m.group(1)), m.group(2), m.group(3)
        rest = re.sub(r'^layer_scale_(\d)$', r'layer_scale\1.scale', rest)
        return f'stages.{stages[net]}.blocks.{j}.{rest}'
    m = re.match(r'network\.(\d+)\.proj\.(.*)$', k)
    if m:
        return f'stages.{stages[int(m.group(1))]}.downsample.conv.{m.group(2)}'
    m = re.match(r'network\.(\d+)\.pos_embed$', k)
    if m:
        return f'stages.{stages[int(m.group(1))]}.pos_embed.pos_embed'
    m = re.match(r'norm(\d)\.(.*)$', k)  # dense-prediction output norms norm0/2/4/6
    if m:
        idx = int(m.group(1))
        return f'norm{stages.get(idx, idx // 2)}.{m.group(2)}'
    if k.startswith('norm.'):  # the classifier's final norm (see place_head_norm)
        return HEAD_NORM + k[len('norm.'):]
    if k.startswith('patch_embed.proj.'):
        return 'stem.conv.' + k[len('patch_embed.proj.'):]
    return None


def _v2_key(k: str) -> Optional[str]:
    """sail-sg/metaformer name -> mmmeta name (None: classifier, dropped)."""
    m = re.match(r'downsample_layers\.(\d+)\.(pre_norm|post_norm|conv)\.(.*)$', k)
    if m:
        i, part, rest = int(m.group(1)), m.group(2), m.group(3)
        part = 'norm' if part.endswith('norm') else part
        return f'stem.{part}.{rest}' if i == 0 else f'stages.{i}.downsample.{part}.{rest}'
    m = re.match(r'stages\.(\d+)\.(\d+)\.(.*)$', k)
    if m:
        return f'stages.{m.group(1)}.blocks.{m.group(2)}.{m.group(3)}'
    return None


def _timm_key(k: str) -> Optional[str]:
    k = re.sub(r'^stages_(\d+)\.', r'stages.\1.', k)
    if k.startswith('head.norm.'):  # the classifier's final norm (see place_head_norm)
        return HEAD_NORM + k[len('head.norm.'):]
    return None if k.startswith('head.') else k


def _renamer(layout: str, keys) -> Callable[[str], Optional[str]]:
    if layout == 'poolformer_v1':
        stages = _v1_network_stages(keys)
        head_norm = _v1_classifier_norm(keys, stages)
        return lambda k: _v1_key(k, stages, head_norm)
    return {'metaformer_v2': _v2_key, 'timm': _timm_key, 'mmmeta': lambda k: k}[layout]


def convert_backbone(state: StateDict) -> Tuple[StateDict, str, List[str]]:
    """Convert backbone keys of any layout to mmmeta's. Returns (state, layout, dropped keys).

    The classifier's final norm of an ImageNet file is kept as ``head_norm.*``; where it goes
    depends on the model (:func:`place_head_norm`)."""
    layout = detect_layout(state)
    rename = _renamer(layout, state)
    out, dropped = {}, []
    for k, v in state.items():
        new = rename(k)
        if new is None:
            dropped.append(k)
            continue
        if v.dim() == 2 and _POINTWISE.search(new):
            v = v[:, :, None, None]  # nn.Linear -> 1x1 conv
        out[new] = v
    return out, layout, dropped


def place_head_norm(state: StateDict, model: nn.Module) -> Optional[str]:
    """In place: the classifier's final norm (``head_norm.*``) goes into the last output norm of
    a backbone that returns the last stage alone (a classifier); for a dense-prediction backbone
    it is dropped, as the authors' detection/segmentation code leaves every output norm at its
    init. Returns a report line when dropped."""
    keys = [k for k in state if k.startswith(HEAD_NORM)]
    if not keys:
        return None
    sub = {k[len(HEAD_NORM):]: state.pop(k) for k in keys}
    depths = getattr(model, 'arch_settings', {}).get('depths', ())
    last = len(depths) - 1
    if last >= 0 and tuple(getattr(model, 'out_indices', ())) == (last,) and \
            isinstance(getattr(model, f'norm{last}', None), nn.Module):
        state.update({f'norm{last}.{k}': v for k, v in sub.items()})
        return None
    return HEAD_NORM_DROPPED.format(last=max(last, 0))


def convert_prefixed(state: StateDict, prefix: str, model: Optional[nn.Module] = None) -> None:
    """In place: convert the keys under ``prefix`` (e.g. ``'backbone.'``) of a full model
    (``model``: the backbone they load into, which decides where a classifier norm goes)."""
    sub = {k[len(prefix):]: k for k in state if k.startswith(prefix)}
    if not sub:
        return
    try:
        layout = detect_layout(sub)
    except CheckpointError:
        return  # not a backbone layout we know; let the normal key report speak
    if layout == 'mmmeta':
        return
    tensors = {s: state.pop(full) for s, full in sub.items()}
    converted, _, _ = convert_backbone(tensors)
    if model is not None:
        place_head_norm(converted, model)
    state.update({prefix + k: v for k, v in converted.items()})


def state_dict_pre_hook(module, state_dict, prefix, *args, **kwargs) -> None:
    """load_state_dict pre-hook: foreign layouts under this module's prefix are converted."""
    convert_prefixed(state_dict, prefix, module)


