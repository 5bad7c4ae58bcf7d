"""Parameter and MAC counting for archs and configs (as the papers count them, with fvcore's
rules via mmengine.analysis), plus the ImageNet classifier heads the published figures include.
"""
from typing import TYPE_CHECKING, Dict, Optional, Tuple, Union

import torch
import torch.nn as nn

from .launch import library_registry
from .models.archs import ARCHS
from .models.metaformer import MetaFormer

if TYPE_CHECKING:
    from mmengine.config import Config


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class ImageNetClassifier(nn.Module):
    """Backbone + the family's published ImageNet head, for counting params/MACs.

    v1: GroupNorm on the last map, global pool, Linear. v2 pool/identity/random families:
    global pool, LayerNorm, Linear. ConvFormer/CAFormer: global pool, LayerNorm, MLP head
    (4x, squared ReLU, LayerNorm).
    """

    def __init__(self, arch: str, num_classes: int = 1000):
        super().__init__()
        self.backbone = MetaFormer(arch, out_indices=(3,))
        d = self.backbone.dims[-1]
        self.norm = nn.Identity() if self.backbone.out_norm else nn.LayerNorm(d, eps=1e-6)
        if arch.startswith(('convformer', 'caformer')):
            self.head = nn.Sequential(nn.Linear(d, 4 * d), nn.ReLU(), nn.LayerNorm(4 * d),
                                      nn.Linear(4 * d, num_classes))
        else:
            self.head = nn.Linear(d, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.backbone(x)[-1].mean((2, 3))))


def _sdpa_handle(inputs, outputs) -> int:
    """MACs of scaled_dot_product_attention: q @ k^T and attn @ v (fvcore has no rule)."""
    from mmengine.analysis.jit_handles import get_shape
    q, k = get_shape(inputs[0]), get_shape(inputs[1])
    b, heads, n, d = q
    return 2 * b * heads * n * k[-2] * d


def count_macs(model: nn.Module, inputs: Tuple[torch.Tensor, ...]) -> int:
    """MACs of one forward pass, fvcore's way (what the papers report as FLOPs)."""
    from mmengine.analysis import FlopAnalyzer
    fa = FlopAnalyzer(model.eval(), inputs)
    fa.set_op_handle('aten::scaled_dot_product_attention', _sdpa_handle)
    fa.unsupported_ops_warnings(False)
    fa.uncalled_modules_warnings(False)
    with torch.no_grad():
        return int(fa.total())


def arch_complexity(arch: str, shape: Tuple[int, int] = (224, 224),
                    classifier: bool = True) -> Dict[str, float]:
    """Params and MACs of an arch: as the ImageNet classifier, or as the bare 4-stage trunk."""
    model = ImageNetClassifier(arch) if classifier else MetaFormer(arch, out_norm=False)
    x = torch.randn(1, 3, *shape)
    return dict(params=n_params(model), macs=count_macs(model, (x,)))


class _TensorForward(nn.Module):
    """Wraps an mmdet/mmseg/mmpretrain model so its plain tensor forward can be traced."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        if hasattr(self.model, 'rpn_head'):  # two-stage: the RPN's proposals need image shapes
            from mmdet.structures import DetDataSample
            shape = tuple(x.shape[2:])
            samples = [DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape))
                       for _ in range(len(x))]
            return self.model._forward(x, samples)
        if hasattr(self.model, 'extract_feat') and hasattr(self.model, '_forward'):
            return self.model._forward(x)
        return self.model(x)


def build_model(cfg: Union[str, 'Config'], device: str = 'cpu') -> nn.Module:
    """The whole model of a config, in its own library's registry, without the backbone's
    pretrained file (counting needs none). ``device='meta'`` builds without memory or init."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = cfg if isinstance(cfg, Config) else Config.fromfile(cfg)
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    registry = library_registry(scope, 'MODELS')
    model_cfg = cfg.model.copy()
    if model_cfg.get('backbone', {}).get('init_cfg') is not None:
        model_cfg.backbone = dict(model_cfg.backbone, init_cfg=None)
    with torch.device(device):
        return registry.build(model_cfg)


def count_params(cfg: Union[str, 'Config']) -> int:
    """Parameters of a config's whole model (built on the meta device: fast, no memory)."""
    return n_params(build_model(cfg, device='meta'))


def config_complexity(model: nn.Module, shape: Tuple[int, int],
                      macs: bool = True) -> Dict[str, Optional[float]]:
    """Params (whole model) and tensor-mode MACs of a model built from a config."""
    out = dict(params=n_params(model), macs=None)
    if macs:
        out['macs'] = count_macs(_TensorForward(model), (torch.randn(1, 3, *shape),))
    return out


def all_archs() -> list:
    return sorted(ARCHS)
