"""Model-zoo metadata (``configs/metafile.yml``, the OpenMMLab/mim model-index format).

Every field of an entry except ``Results`` follows from the config (its model type, backbone
arch, folder) or from the model it builds (parameters, FLOPs), so it is derived here rather
than typed: the metafile, the configs and the README tables then cannot drift apart. The
published results are the one thing typed by hand, in the metafile.
"""
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

import yaml

from .analysis import build_model, config_complexity
from .weights import WEIGHTS

ROOT = Path(__file__).resolve().parents[1]  # the repository (mmmeta is installed editable)
METAFILE = 'configs/metafile.yml'
DEMO_DATA = 'Shapes (synthetic, tools/make_demo_data.py)'
PAPER = dict(Title='MetaFormer Is Actually What You Need for Vision',
             URL='https://arxiv.org/abs/2111.11418')
MEASURED = ('Parameters', 'FLOPs', 'FLOPs Input (HxW)')
HEADER = """\
# mmmeta model zoo, imported by ../model-index.yml (OpenMMLab model-index format, as mim reads).
# Written by `python tools/analysis/zoo_tables.py --measure`; only `Results` is typed by hand.
# Derived from the config: Name (file stem), Config, In Collection (model type), Architecture
# (backbone arch first), Pretrained (the backbone's ImageNet file; the demo backbone for the
# demos), Weights (a trained file of exactly this model, where one is published).
# Measured on the model the config builds (mmmeta/analysis.py): Parameters of the whole model;
# FLOPs of one image of `FLOPs Input (HxW)`, the papers' input size, counted as the papers do
# (fvcore's rules via mmengine: one multiply-add = one FLOP).
# Results: the published numbers (COCO val2017, ADE20K val, ImageNet-1k val) for the real
# configs, none where nothing is published for exactly that config; this project's measured
# numbers on the synthetic shapes data for configs/demo/ (README, "Demos").
"""


class Collection(NamedTuple):
    name: str
    parts: Tuple[str, ...]  # the architecture after the backbone
    metrics: Dict[str, str]  # task -> its metric
    dataset: str
    flops_input: Tuple[int, int]  # (H, W) at which the papers count FLOPs


COLLECTIONS: Dict[str, Collection] = {  # keyed by the config's model type
    'RetinaNet': Collection('RetinaNet', ('FPN', 'RetinaNet'),
                            {'Object Detection': 'box AP'}, 'COCO', (800, 1280)),
    'MaskRCNN': Collection('Mask R-CNN', ('FPN', 'Mask R-CNN'),
                           {'Object Detection': 'box AP', 'Instance Segmentation': 'mask AP'},
                           'COCO', (800, 1280)),
    'EncoderDecoder': Collection('Semantic FPN', ('FPN', 'FPNHead'),
                                 {'Semantic Segmentation': 'mIoU'}, 'ADE20K', (512, 512)),
    'ImageClassifier': Collection('ImageNet classifier', ('GlobalAveragePooling', 'LinearClsHead'),
                                  {'Image Classification': 'Top 1 Accuracy'}, 'ImageNet-1k',
                                  (224, 224)),
}


def config_paths() -> List[str]:
    """Every runnable config (``_base_`` files excluded), relative to the repository root."""
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / 'configs').rglob('*.py')
                  if '_base_' not in p.parts)


def is_demo(path: str) -> bool:
    return 'demo' in Path(path).parts


@lru_cache(maxsize=None)
def load_config(path: str):
    from mmengine.config import Config
    return Config.fromfile(str(ROOT / path))


def collection_of(cfg) -> Collection:
    return COLLECTIONS[cfg.model.type]


def derived_entry(path: str, cfg) -> dict:
    """The entry of one config as far as the config decides it (no measurements, no results)."""
    coll, arch = collection_of(cfg), cfg.model.backbone.arch
    classifier = coll is COLLECTIONS['ImageClassifier']
    if is_demo(path):  # the demos start from the shipped demo backbone, not ImageNet
        pretrained = (cfg.model.backbone.get('init_cfg') or {}).get('checkpoint')
    else:  # a classifier trains from scratch; dense models start from its ImageNet file
        pretrained = None if classifier else WEIGHTS[arch].url
    meta = {'Training Data': DEMO_DATA if is_demo(path) else coll.dataset,
            'Architecture': [arch, *coll.parts]}
    if pretrained:
        meta['Pretrained'] = pretrained
    entry = {'Name': Path(path).stem, 'In Collection': coll.name, 'Config': path,
             'Metadata': meta}
    if classifier and not is_demo(path):
        entry['Weights'] = WEIGHTS[arch].url
    return entry


def measure(path: str) -> Dict[str, object]:
    """Parameters and FLOPs of a config's model at its task's input size (slow: builds it)."""
    import torch
    cfg = load_config(path)
    torch.manual_seed(0)  # a two-stage detector's RoI work depends on its proposals
    shape = collection_of(cfg).flops_input
    res = config_complexity(build_model(cfg), shape)
    return {'Parameters': res['params'], 'FLOPs': res['macs'],
            'FLOPs Input (HxW)': f'{shape[0]}x{shape[1]}'}


def read_metafile() -> dict:
    return yaml.safe_load((ROOT / METAFILE).read_text())


def models_by_name(metafile: dict) -> Dict[str, dict]:
    return {m['Name']: m for m in metafile.get('Models') or []}


def sync(metafile: Optional[dict], measured: Dict[str, dict]) -> dict:
    """The metafile rewritten from the configs: derived fields anew, measurements from
    ``measured`` (by name) or kept, results and any other hand-written keys kept."""
    old = models_by_name(metafile or {})
    models = []
    for path in config_paths():
        entry = derived_entry(path, load_config(path))
        before = old.get(entry['Name'], {})
        kept = {k: before.get('Metadata', {}).get(k) for k in MEASURED}
        entry['Metadata'].update(measured.get(entry['Name'], kept))
        entry.update({k: v for k, v in before.items() if k not in entry})
        models.append(entry)
    collections = [{'Name': c.name, 'Metadata': {'Architecture': list(c.parts)},
                    'Paper': dict(PAPER)} for c in COLLECTIONS.values()]
    return {'Collections': collections, 'Models': models}


def write_metafile(metafile: dict) -> None:
    text = yaml.safe_dump(metafile, sort_keys=False, width=100, allow_unicode=True)
    (ROOT / METAFILE).write_text(HEADER + text)
