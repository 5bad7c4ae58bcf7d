"""Configs: finding them by name, loading them, and which library runs them.

One place for what every tool needs before it does anything else: :func:`load_config` (a file
or the name of a shipped config, syntax errors as one sentence), :func:`library_of` /
:func:`init_library` (the config's ``default_scope``), :func:`library_registry` (a registry of
that library) and the walks through wrapper datasets and evaluators.
"""
import difflib
import importlib
import os
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from mmengine.config import Config

from ..cli import fail, load_config_file

# The default_scope values the tools run; each is also the name of the library to import.
SUPPORTED_SCOPES = ('mmdet', 'mmseg', 'mmpretrain')


def is_remote(path: str) -> bool:
    """A URL or other remote storage path (``s3://``, ``http://``), which is not checked."""
    return '://' in str(path)


# ----------------------------------------------------------------------------------------------
# Library (default_scope) and its registries
# ----------------------------------------------------------------------------------------------
def library_of(cfg: Config) -> str:
    """Which OpenMMLab library runs this config, read from ``cfg.default_scope``."""
    scope = cfg.get('default_scope', None)
    supported = ', '.join(repr(s) for s in SUPPORTED_SCOPES)
    if scope is None:
        fail(f'the config has no `default_scope`, so it is not known which library runs it. '
             f"Add e.g. `default_scope = 'mmdet'` to the config; supported scopes: {supported}.")
    if scope not in SUPPORTED_SCOPES:
        fail(f'the config has default_scope={scope!r}, which these tools do not support; '
             f'supported scopes: {supported}.')
    return scope


def init_library(cfg: Config) -> str:
    """Import the config's library and register its modules, as the upstream tools/APIs do.

    Returns the library name. A library that is missing or fails to import (for example mmcv
    without compiled ops) is reported as such instead of as an unknown registry type later.
    """
    lib = library_of(cfg)
    try:
        utils = importlib.import_module(f'{lib}.utils')
    except Exception as err:  # ImportError, or mmcv's version assert at import
        fail(f'the config runs under {lib!r} (default_scope), but importing {lib} failed: '
             f'{type(err).__name__}: {err}. Install the pinned stack with tools/install.sh.')
    utils.register_all_modules(init_default_scope=False)
    from mmengine.registry import init_default_scope
    init_default_scope(lib)
    if lib == 'mmdet':  # upstream mmdet tools do this before building the runner
        utils.setup_cache_size_limit_of_dynamo()
    return lib


def library_registry(cfg_or_lib: Union[Config, str], name: str):
    """The registry ``name`` (``'MODELS'``, ``'DATASETS'``, ``'VISUALIZERS'``, ``'RUNNERS'``)
    of the library that runs a config (or of the library named), as ``{lib}.registry.NAME``;
    mmengine's root registry of that name when the library cannot be imported."""
    lib = cfg_or_lib if isinstance(cfg_or_lib, str) else library_of(cfg_or_lib)
    try:
        return getattr(importlib.import_module(f'{lib}.registry'), name)
    except ImportError:
        return getattr(importlib.import_module('mmengine.registry'), name)


# ----------------------------------------------------------------------------------------------
# Config names and files
# ----------------------------------------------------------------------------------------------
def config_dirs() -> List[str]:
    """Where config names are looked up: the checkout's configs/ (when mmmeta runs from a clone)
    and the installed package's ``.mim/configs`` (a wheel; the OpenMMLab convention)."""
    pkg = osp.dirname(osp.dirname(osp.abspath(__file__)))  # mmmeta/
    clone = osp.dirname(pkg)
    dirs = [osp.join(pkg, '.mim', 'configs')]
    if osp.isfile(osp.join(clone, 'tools', 'train.py')):
        dirs.insert(0, osp.join(clone, 'configs'))
    return [d for d in dirs if osp.isdir(d)]


def shipped_configs() -> Dict[str, str]:
    """Config name (file stem) -> path, for every config shipped with mmmeta."""
    found: Dict[str, str] = {}
    for root in reversed(config_dirs()):  # the clone's files win over an installed copy
        for dirpath, dirnames, files in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in ('_base_', '__pycache__')]
            found.update({f[:-3]: osp.join(dirpath, f) for f in files if f.endswith('.py')})
    return found


def resolve_config(path: str) -> str:
    """A config file, or the name of a shipped config (``retinanet_poolformer_s12_demo``)."""
    if osp.isfile(path):
        return path
    name = osp.basename(path)[:-3] if path.endswith('.py') else osp.basename(path)
    shipped = shipped_configs()
    bare = osp.dirname(path) == '' or path.replace(os.sep, '/').startswith('configs/')
    if bare and name in shipped:
        return shipped[name]
    close = difflib.get_close_matches(name, list(shipped), n=3, cutoff=0.6)
    hint = (f'Did you mean {", ".join(close)}?' if close else
            'Configs of this project live in configs/ (e.g. configs/retinanet_poolformer_s12_'
            '1x_coco.py); a shipped config can also be given by name (retinanet_poolformer_s12_'
            '1x_coco).')
    fail(f'config file not found: {path!r} (current directory: {os.getcwd()}), and no config of '
         f'that name ships with mmmeta. {hint}')


def project_root(config_path: str) -> Optional[str]:
    """The folder that holds the ``configs/`` folder this config lives in (a clone, or
    ``mmmeta/.mim`` of a wheel): relative paths in shipped configs are relative to it."""
    parts = osp.abspath(config_path).split(os.sep)
    if 'configs' not in parts:
        return None
    return os.sep.join(parts[:len(parts) - 1 - parts[::-1].index('configs')])


def resolve_shipped_files(cfg: Config, config_path: str) -> None:
    """A relative backbone weight path that is not under the current directory but ships with
    mmmeta (next to its configs/ folder) becomes that file's absolute path, so a shipped
    config also runs outside the repository."""
    init_cfg = (cfg.get('model', {}).get('backbone', {}) or {}).get('init_cfg')
    root = project_root(config_path)
    if not isinstance(init_cfg, dict) or not root:
        return
    path = init_cfg.get('checkpoint')
    if isinstance(path, str) and path and not osp.isabs(path) and not is_remote(path) \
            and not osp.exists(path) and osp.isfile(osp.join(root, path)):
        init_cfg['checkpoint'] = osp.join(root, path)


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile`` of a file or shipped config name, with a clear message when missing;
    ``cfg_options`` (parsed ``--cfg-options``) are merged in when given."""
    path = resolve_config(path)
    cfg = load_config_file(path)
    resolve_shipped_files(cfg, path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


# ----------------------------------------------------------------------------------------------
# Walking config sections
# ----------------------------------------------------------------------------------------------
def backbone_cfg(cfg: Config) -> dict:
    """``model.backbone`` (through a test-time augmentation wrapper); {} when there is none."""
    model = cfg.get('model', None) or {}
    if 'module' in model and 'backbone' not in model:  # test-time augmentation wrapper
        model = model['module']
    backbone = model.get('backbone', None)
    return backbone if isinstance(backbone, dict) else {}


def iter_dataset_cfgs(dataset: Any, key: str) -> Iterator[Tuple[str, dict]]:
    """Yield (config key, dataset config) for each leaf dataset, through wrapper datasets."""
    if not isinstance(dataset, dict):
        return
    if isinstance(dataset.get('dataset'), dict):  # RepeatDataset, ClassBalancedDataset, ...
        yield from iter_dataset_cfgs(dataset['dataset'], f'{key}.dataset')
    elif isinstance(dataset.get('datasets'), (list, tuple)):  # ConcatDataset
        for i, sub in enumerate(dataset['datasets']):
            yield from iter_dataset_cfgs(sub, f'{key}.datasets.{i}')
    else:
        yield key, dataset


def iter_metric_cfgs(evaluator: Any, key: str) -> Iterator[Tuple[str, dict]]:
    """Yield (config key, metric config) of an evaluator config (dict, list or Evaluator)."""
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        evaluator, key = evaluator['metrics'], f'{key}.metrics'
    if isinstance(evaluator, dict):
        yield key, evaluator
    elif isinstance(evaluator, (list, tuple)):
        for i, metric in enumerate(evaluator):
            if isinstance(metric, dict):
                yield f'{key}.{i}', metric
