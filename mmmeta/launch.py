"""The logic behind ``tools/train.py`` and ``tools/test.py``, importable and unit-testable.

The tools follow mmdet 3.3.0 / mmseg 1.2.2 upstream (same arguments, same config edits) and
add what a CPU-only machine and a first-time user need:

* CPU distributed launch: ``mmengine.dist.init_dist`` calls ``torch.cuda.set_device``
  unconditionally, so ``torchrun ... --launcher pytorch`` fails on a machine without CUDA.
  :func:`init_distributed` opens a gloo process group itself there (mmengine's Runner then
  skips its own init) and :func:`adapt_cfg_for_device` makes the config CPU-runnable
  (DDP without ``device_ids``, gloo backend, SyncBN -> BN).
* Clear one-paragraph errors (``SystemExit``, no traceback) for what otherwise fails deep
  inside the stack: a missing config, checkpoint or dataset path, a malformed COCO
  annotation file, and mixed precision (``AmpOptimWrapper``) without a GPU.
* Reliability (issue #13): ``--resume`` falls back to the newest complete checkpoint when
  ``last_checkpoint`` names a missing or partial file, and says when there is nothing to
  resume; ``load_from`` / CHECKPOINT must fill the whole model (:mod:`mmmeta.load_check`,
  ``--allow-partial`` to load part of it on purpose); config syntax errors, malformed
  ``--cfg-options``, unknown config keys, an unwritable work directory, empty or incomplete
  datasets and unreadable files are one sentence (:mod:`mmmeta.cli`).
"""
import argparse
import datetime
import difflib
import importlib
import json
import logging
import mmap
import os
import os.path as osp
import subprocess
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from .cli import CfgOptionsAction, check_config_keys, fail, load_config_file, run_tool
from .download import DownloadError, fetch, is_url
from .files import checkpoint_problem, checkpoints_in, load_checkpoint_file

# default_scope -> importable library that provides it.
SUPPORTED_SCOPES: Dict[str, str] = {'mmdet': 'mmdet', 'mmseg': 'mmseg', 'mmpretrain': 'mmpretrain'}
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
# Norm layer types that need a GPU (or a distributed CUDA run); BN is their CPU stand-in.
SYNC_BN_TYPES = frozenset({'SyncBN', 'MMSyncBN', 'NaiveSyncBN', 'SyncBatchNorm'})
# COCO files above this size are checked with a byte scan instead of a full JSON parse, so a
# 450 MB instances_train2017.json is not parsed twice.
FULL_JSON_CHECK_MAX_BYTES = 64 * 1024 * 1024
COCO_KEYS = ('images', 'annotations', 'categories')
# tools/make_demo_data.py (mmmeta-demo-data when installed) writes small synthetic datasets
# (data/demo_coco, data/demo_ade, data/demo_cls).
DEMO_DATA_KIND = {'mmdet': 'coco', 'mmseg': 'ade', 'mmpretrain': 'cls'}


def demo_data_cmd(args: str) -> str:
    """How to make the demo data, in a clone and with an installed wheel."""
    return (f'`python tools/make_demo_data.py {args}` '
            f'(installed mmmeta: `mmmeta-demo-data {args}`)')


def _is_remote(path: str) -> bool:
    return '://' in str(path)


# ----------------------------------------------------------------------------------------------
# Library (default_scope)
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
    return SUPPORTED_SCOPES[scope]


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


# ----------------------------------------------------------------------------------------------
# Command-line arguments (same as mmdet/mmseg upstream tools)
# ----------------------------------------------------------------------------------------------
_CFG_OPTIONS_HELP = (
    'override some settings in the used config, the key-value pair in xxx=yyy format will be '
    'merged into config file. If the value to be overwritten is a list, it should be like '
    'key="[a,b]" or key=a,b. It also allows nested list/tuple values, e.g. '
    'key="[(a,b),(c,d)]". Note that the quotation marks are necessary and that no white space '
    'is allowed.')


def _add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help=_CFG_OPTIONS_HELP)
    parser.add_argument('--allow-partial', action='store_true',
                        help='load a load_from / CHECKPOINT file that fills only part of the '
                        'model (by default such a file is refused with a report)')
    parser.add_argument('--verbose', action='store_true',
                        help='show the traceback of an error as well (or MMMETA_VERBOSE=1)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def build_train_parser() -> argparse.ArgumentParser:
    """Arguments of mmdet's tools/train.py (a superset of mmseg's)."""
    parser = argparse.ArgumentParser(description='Train a model (mmdet / mmseg / mmpretrain)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training (needs a GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='enable automatically scaling LR.')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='If a checkpoint path is given, resume from it; without a value, '
                        'resume from the latest checkpoint in the work directory.')
    _add_common_args(parser)
    return parser


def build_test_parser() -> argparse.ArgumentParser:
    """Arguments of mmdet's / mmseg's tools/test.py."""
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir',
                        help='the directory to save the file containing evaluation metrics')
    parser.add_argument('--out', type=str,
                        help='mmdet: dump predictions to a .pkl file; mmseg: directory to save '
                        'the predicted masks, for offline evaluation')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir',
                        help='directory where painted images will be saved: mmdet puts it '
                        'under work_dir/<timestamp>/, mmpretrain uses the path as given, mmseg '
                        'too (images in SHOW_DIR/vis_data/vis_image/), as upstream')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true', help='test time augmentation')
    _add_common_args(parser)
    return parser


def parse_args(parser: argparse.ArgumentParser,
               argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` from ``--local-rank`` when the launcher did not."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


# ----------------------------------------------------------------------------------------------
# Applying the arguments to a Config
# ----------------------------------------------------------------------------------------------
def config_dirs() -> List[str]:
    """Where config names are looked up: the checkout's configs/ (when mmmeta runs from a clone)
    and the installed package's ``.mim/configs`` (a wheel; the OpenMMLab convention)."""
    pkg = osp.dirname(osp.abspath(__file__))
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
    mmmeta (the demo backbone ``checkpoints/demo/...``) becomes that file's absolute path, so
    a shipped config also runs outside the repository."""
    init_cfg = (cfg.get('model', {}).get('backbone', {}) or {}).get('init_cfg')
    root = project_root(config_path)
    if not isinstance(init_cfg, dict) or not root:
        return
    path = init_cfg.get('checkpoint')
    if isinstance(path, str) and path and not osp.isabs(path) and not _is_remote(path) \
            and not osp.exists(path) and osp.isfile(osp.join(root, path)):
        init_cfg['checkpoint'] = osp.join(root, path)


def load_config(path: str) -> Config:
    """``Config.fromfile`` of a file or shipped config name, with a clear message when missing."""
    path = resolve_config(path)
    cfg = load_config_file(path)
    resolve_shipped_files(cfg, path)
    return cfg


def apply_common_args(cfg: Config, args: argparse.Namespace) -> Config:
    """launcher, --cfg-options and --work-dir, in upstream order (CLI > config > file name)."""
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def apply_train_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply tools/train.py arguments to ``cfg`` (in place) and return it."""
    if args.amp:  # fail before anything expensive happens
        require_amp_device('`--amp`', 'drop `--amp`')
    apply_common_args(cfg, args)
    if args.amp:
        _enable_amp(cfg)
    if args.auto_scale_lr:
        _enable_auto_scale_lr(cfg)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
        resolve_auto_resume(cfg)
    elif args.resume is not None:
        check_checkpoint(args.resume, '`--resume`')
        check_complete(args.resume, '`--resume`')
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], Optional[str]]:
    """(checkpoint to resume from, note). The file ``work_dir/last_checkpoint`` names, if it
    is complete; else the newest complete ``epoch_N.pth``/``iter_N.pth`` in ``work_dir``, with
    a note saying why (None when there is none)."""
    marker = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(marker):
        with open(marker) as f:
            named = f.read().strip() or None
    if named:
        problem = checkpoint_problem(named)
        if problem is None:
            return named, None
        why = f'{marker} names {named}, but {problem}'
    else:
        why = f'there is no {marker}'
    for candidate in checkpoints_in(work_dir):
        if osp.abspath(candidate) != osp.abspath(named or '') and \
                checkpoint_problem(candidate) is None:
            return candidate, (f'--resume: {why}; resuming from the newest complete '
                               f'checkpoint, {candidate}, instead.')
    return None, why


def resolve_auto_resume(cfg: Config) -> None:
    """``--resume`` without a path: pick the checkpoint now (see find_resume_checkpoint) and
    say so; with nothing to resume, say that training starts from the beginning."""
    path, note = find_resume_checkpoint(cfg.work_dir)
    if path is None:
        print_log(f'--resume: nothing to resume in {cfg.work_dir} ({note}, and no complete '
                  'epoch_N.pth / iter_N.pth checkpoint there); training starts from the '
                  'beginning.', logger='current', level=logging.WARNING)
        cfg.resume = False
        return
    if note:
        print_log(note, logger='current', level=logging.WARNING)
    else:  # mmengine's wording, as when it picks the file itself
        print_log(f'Auto resumed from the latest checkpoint {path}.', logger='current')
    cfg.load_from = path


def check_complete(path: str, source: str) -> None:
    """Fail clearly when a local checkpoint file is empty, truncated or not a checkpoint."""
    problem = checkpoint_problem(path)
    if problem is None:
        return
    others = [p for p in checkpoints_in(osp.dirname(osp.abspath(path)))
              if checkpoint_problem(p) is None]
    fix = (f'resume from {others[0]} (the newest complete checkpoint next to it), or use '
           '`--resume` without a path to pick it automatically') if others else \
        'use another checkpoint'
    fail(f'cannot use checkpoint {path} ({source}): {problem}; {fix}.')


def _enable_amp(cfg: Config) -> None:
    wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in your config.', logger='current',
                  level=logging.WARNING)
        return
    if wrapper_type != 'OptimWrapper':
        fail(f'`--amp` is only supported when optim_wrapper.type is OptimWrapper, but the '
             f'config uses {wrapper_type!r}.')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def _enable_auto_scale_lr(cfg: Config) -> None:
    scale = cfg.get('auto_scale_lr', None)
    if not scale or 'base_batch_size' not in scale:
        fail('`--auto-scale-lr` needs `auto_scale_lr = dict(enable=False, base_batch_size=N)` '
             'in the config (N = the total batch size the learning rate was tuned for), but '
             'the config has no `auto_scale_lr.base_batch_size`.')
    scale.enable = True


def apply_test_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply tools/test.py arguments to ``cfg`` (in place) and return it."""
    apply_common_args(cfg, args)
    check_checkpoint(args.checkpoint, 'the CHECKPOINT argument')
    cfg.load_from = args.checkpoint
    lib = library_of(cfg)
    if args.show or args.show_dir:
        _enable_visualization(cfg, args, lib)
    if args.tta:
        _enable_tta(cfg, lib)
    if args.out is not None:
        _enable_dump(cfg, args.out, lib)
    return cfg


def _enable_visualization(cfg: Config, args: argparse.Namespace, lib: str) -> None:
    hooks = cfg.get('default_hooks', None) or {}
    if 'visualization' not in hooks:
        fail('`--show`/`--show-dir` need a VisualizationHook in the config: add '
             "`default_hooks = dict(visualization=dict(type='DetVisualizationHook'))` (mmdet) "
             "or `...type='SegVisualizationHook'` (mmseg).")
    hook = hooks['visualization']
    if lib == 'mmpretrain':  # mmpretrain's hook has enable/out_dir instead of draw/test_out_dir
        hook['enable'] = True
        hook['interval'] = 1  # asked for pictures: its default paints every 5000th image only
        hook['show'] = args.show
        hook['wait_time'] = args.wait_time
        hook['out_dir'] = args.show_dir
        return
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        if lib == 'mmseg':
            cfg.visualizer['save_dir'] = args.show_dir
            hook['interval'] = 1  # asked for pictures: mmseg's default paints every 50th only
        else:
            hook['test_out_dir'] = args.show_dir


def _enable_tta(cfg: Config, lib: str) -> None:
    missing = [k for k in ('tta_model', 'tta_pipeline') if k not in cfg]
    if missing:
        fail(f'`--tta` needs `tta_model` and `tta_pipeline` in the config, but it has no '
             f'{" and no ".join(missing)}. Use a config that defines test-time augmentation '
             '(the ADE20K configs of this project do) or add both settings.')
    if lib == 'mmseg':
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    else:
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def _enable_dump(cfg: Config, out: str, lib: str) -> None:
    if lib == 'mmseg':
        cfg.test_evaluator['output_dir'] = out
        cfg.test_evaluator['keep_results'] = True
        return
    if lib == 'mmdet' and not out.endswith(('.pkl', '.pickle')):
        fail(f'`--out` must name a .pkl (or .pickle) file for mmdet, got {out!r}.')
    dump_type = 'DumpDetResults' if lib == 'mmdet' else 'mmengine.DumpResults'
    dump = dict(type=dump_type, out_file_path=out)
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, dict) and 'metrics' in evaluator:  # an Evaluator config
        evaluator.metrics = list(evaluator.metrics) + [dump]
    elif isinstance(evaluator, (list, tuple)):
        cfg.test_evaluator = list(evaluator) + [dump]
    else:
        cfg.test_evaluator = [evaluator, dump]


# ----------------------------------------------------------------------------------------------
# Devices: AMP and CPU-only runs
# ----------------------------------------------------------------------------------------------
def accelerator_available() -> bool:
    """Whether a CUDA (or NPU/MLU/MUSA) device is here: the devices that mmengine's
    ``init_dist`` and ``AmpOptimWrapper`` support. Anything else is run as on a CPU."""
    from mmengine.device import (is_cuda_available, is_mlu_available, is_musa_available,
                                 is_npu_available)
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def require_amp_device(what: str, advice: str) -> None:
    """Fail clearly when mixed precision is requested without a GPU."""
    if accelerator_available():
        return
    fail(f'{what} asks for automatic mixed precision (AmpOptimWrapper), which needs a CUDA '
         f'GPU (or an NPU/MLU/MUSA device), and none is available here (torch '
         f'{torch.__version__}, torch.cuda.is_available() = {torch.cuda.is_available()}). '
         f'To train in fp32 on this machine, {advice}.')


def check_amp_supported(cfg: Config) -> None:
    """Fail clearly when the config itself uses AmpOptimWrapper on a machine without a GPU."""
    wrapper = cfg.get('optim_wrapper', None)
    if isinstance(wrapper, dict) and wrapper.get('type') == 'AmpOptimWrapper':
        require_amp_device('The config (optim_wrapper.type = AmpOptimWrapper)',
                           'use its fp32 counterpart (e.g. the same config name without '
                           '`_amp`)')


def convert_syncbn_to_bn(node: Any) -> int:
    """Turn every ``type='SyncBN'``-like dict under ``node`` into ``type='BN'``, in place.

    SyncBN has no CPU kernel. Returns how many were converted.
    """
    count = 0
    if isinstance(node, Config):
        node = node._cfg_dict
    if isinstance(node, dict):
        if isinstance(node.get('type'), str) and node['type'] in SYNC_BN_TYPES:
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += convert_syncbn_to_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += convert_syncbn_to_bn(value)
    return count


def adapt_cfg_for_device(cfg: Config, distributed: bool) -> Config:
    """Make ``cfg`` runnable on a machine without an accelerator; unchanged otherwise.

    On CPU: SyncBN -> BN everywhere, ``sync_bn`` dropped, and with a launcher a DDP wrapper
    without ``device_ids`` (mmengine would pass ``[LOCAL_RANK]``, which DDP rejects for a CPU
    module) and the gloo backend.
    """
    if accelerator_available():
        return cfg
    converted = convert_syncbn_to_bn(cfg)
    if converted:
        print_log(f'No GPU: converted {converted} SyncBN norm config(s) to BN.',
                  logger='current', level=logging.WARNING)
    if cfg.get('sync_bn', None) is not None:
        print_log(f'No GPU: ignoring sync_bn={cfg.sync_bn!r}.', logger='current',
                  level=logging.WARNING)
        cfg.sync_bn = None
    if distributed:
        _use_cpu_ddp(cfg)
    return cfg


def _use_cpu_ddp(cfg: Config) -> None:
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    else:
        wrapper['device_ids'] = None
    env_cfg = cfg.get('env_cfg', None)
    if env_cfg is None:
        cfg.env_cfg = dict(dist_cfg=dict(backend='gloo'))
    elif env_cfg.get('dist_cfg', None) is None:
        env_cfg['dist_cfg'] = dict(backend='gloo')
    else:
        env_cfg['dist_cfg']['backend'] = 'gloo'


# ----------------------------------------------------------------------------------------------
# Distributed initialisation
# ----------------------------------------------------------------------------------------------
def _require_env(names: Sequence[str], launcher: str) -> None:
    missing = [n for n in names if n not in os.environ]
    if missing:
        fail(f'--launcher {launcher} needs the environment variable(s) {", ".join(missing)}, '
             'which are not set. Start distributed runs with tools/dist_train.sh / '
             'tools/dist_test.sh (torchrun) or tools/slurm_train.sh (srun), or use '
             '--launcher none.')


def _env_int(name: str, launcher: str) -> int:
    _require_env([name], launcher)
    return int(os.environ[name])


def _cpu_env_from_slurm(port: Optional[int]) -> None:
    """Export torch's env:// variables from SLURM_*, as mmengine's ``_init_dist_slurm`` does."""
    proc_id = _env_int('SLURM_PROCID', 'slurm')
    ntasks = _env_int('SLURM_NTASKS', 'slurm')
    node_list = os.environ.get('SLURM_NODELIST', '')
    local_rank = int(os.environ.get('SLURM_LOCALID', proc_id))
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')
    os.environ['WORLD_SIZE'] = str(ntasks)
    os.environ['LOCAL_RANK'] = str(local_rank)
    os.environ['RANK'] = str(proc_id)


def _cpu_env_from_mpi() -> None:
    """Export torch's env:// variables from OpenMPI's, as mmengine's ``_init_dist_mpi`` does."""
    os.environ.setdefault('MASTER_PORT', '29500')
    _require_env(['MASTER_ADDR'], 'mpi')
    os.environ['WORLD_SIZE'] = str(_env_int('OMPI_COMM_WORLD_SIZE', 'mpi'))
    os.environ['RANK'] = str(_env_int('OMPI_COMM_WORLD_RANK', 'mpi'))
    os.environ['LOCAL_RANK'] = str(_env_int('OMPI_COMM_WORLD_LOCAL_RANK', 'mpi'))


def init_distributed(launcher: str, backend: Optional[str] = None, **kwargs) -> None:
    """Initialise the default process group for ``launcher`` (no-op for 'none' or if done).

    With an accelerator this is mmengine's ``init_dist``. Without one, a gloo group is created
    here from the launcher's environment variables, since ``init_dist`` would call
    ``torch.cuda.set_device``. ``kwargs`` (e.g. ``timeout`` in seconds, ``port`` for slurm)
    are those of ``env_cfg.dist_cfg``.
    """
    import torch.distributed as dist
    if launcher == 'none' or (dist.is_available() and dist.is_initialized()):
        return
    if launcher not in LAUNCHERS:
        fail(f'unknown launcher {launcher!r}; choose one of {", ".join(LAUNCHERS)}.')
    if accelerator_available():
        from mmengine.dist import init_dist
        init_dist(launcher, backend=backend or 'nccl', **kwargs)
        return
    backend = backend or 'gloo'
    if backend == 'nccl':
        fail('the nccl backend needs GPUs; on this CPU-only machine use gloo '
             "(env_cfg.dist_cfg.backend='gloo', which tools/train.py sets for you).")
    port = kwargs.pop('port', None)
    if launcher == 'slurm':
        _cpu_env_from_slurm(port)
    elif launcher == 'mpi':
        _cpu_env_from_mpi()
    if kwargs.get('timeout') is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
    _require_env(['RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'], launcher)
    dist.init_process_group(backend=backend, init_method='env://',
                            rank=int(os.environ['RANK']),
                            world_size=int(os.environ['WORLD_SIZE']), **kwargs)


# ----------------------------------------------------------------------------------------------
# Checks on files the run needs
# ----------------------------------------------------------------------------------------------
def _missing_local_file(path: Optional[str]) -> bool:
    """A local path that names no file (unset paths and URLs are not checked)."""
    return bool(path) and not _is_remote(path) and not osp.isfile(path)


def check_checkpoint(path: Optional[str], source: str) -> None:
    """Fail clearly when a local checkpoint file does not exist (URLs are not checked)."""
    if not _missing_local_file(path):
        return
    fail(f'checkpoint file not found: {path!r} (given by {source}; current directory: '
         f'{os.getcwd()}). Check the path, or train first with tools/train.py, which writes '
         'checkpoints into the work directory (work_dirs/<config name>/ by default).')


def check_pretrained(cfg: Config) -> None:
    """Fail clearly when the backbone's ``init_cfg`` names a local weight file that is not
    there (training would otherwise stop with a traceback inside ``init_weights``). An http(s)
    URL is fetched now, so a failed download is one sentence before any model is built."""
    backbone = cfg.get('model', {}).get('backbone', {}) or {}
    init_cfg = backbone.get('init_cfg') if isinstance(backbone, dict) else None
    if not isinstance(init_cfg, dict) or init_cfg.get('type') != 'Pretrained':
        return
    path = init_cfg.get('checkpoint')
    if is_url(path):
        try:
            fetch(path)
        except DownloadError as err:
            fail(str(err))
        return
    if not _missing_local_file(path):
        return
    if 'checkpoints/demo/' in path.replace(os.sep, '/'):
        fix = ('It is the demo backbone shipped with mmmeta: run from the repository root, or '
               'make it again with `python tools/demo.py --pretrain`.')
    else:
        fix = ('Put the pretrained file there (README, "Pretrained weights"), point '
               'model.backbone.init_cfg.checkpoint at it, or pass --cfg-options '
               'model.backbone.init_cfg=None to train from random weights.')
    fail(f'pretrained backbone weights not found: {path!r} (model.backbone.init_cfg.checkpoint; '
         f'current directory: {os.getcwd()}). {fix}')


def _has_val_loop(cfg: Config) -> bool:
    return bool(cfg.get('val_cfg', None) and cfg.get('val_dataloader', None))


def _dataloaders_for(cfg: Config, phase: str) -> List[str]:
    """The dataloader keys a phase ('train' or 'test') builds."""
    if phase == 'test':
        return ['test_dataloader']
    return ['train_dataloader'] + (['val_dataloader'] if _has_val_loop(cfg) else [])


def _evaluators_for(cfg: Config, phase: str) -> List[str]:
    """The evaluator keys a phase uses (CocoMetric reads its own ann_file)."""
    if phase == 'test':
        return ['test_evaluator']
    return ['val_evaluator'] if _has_val_loop(cfg) else []


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


def _dataset_paths(ds: dict) -> List[Tuple[str, str]]:
    """(field, path on disk) pairs of a dataset config, joined to data_root like mmengine."""
    root = ds.get('data_root') or ''
    paths = [('data_root', root)] if root else []

    def join(p: str) -> str:
        return p if (osp.isabs(p) or not root) else osp.join(root, p)

    if ds.get('ann_file'):
        paths.append(('ann_file', join(ds['ann_file'])))
    prefix = ds.get('data_prefix') or {}
    for name, value in (prefix.items() if isinstance(prefix, dict) else []):
        if isinstance(value, str) and value:
            paths.append((f'data_prefix.{name}', join(value)))
    return [(f, p) for f, p in paths if not _is_remote(p)]


def _uses_local_storage(node: dict) -> bool:
    backend_args = node.get('backend_args', None) or {}
    return backend_args.get('backend', 'local') == 'local'


def check_datasets(cfg: Config, phase: str) -> None:
    """Fail clearly on missing dataset paths or malformed COCO files, before the Runner.

    Only the dataloaders and evaluators that ``phase`` ('train' or 'test') uses are checked.
    """
    scope = cfg.get('default_scope', None)
    checker = _PathChecker(coco=scope == 'mmdet', demo_kind=DEMO_DATA_KIND.get(scope, 'all'),
                           need_annotations=not (phase == 'test' and _format_only(
                               cfg.get('test_evaluator', None))))
    for loader_key in _dataloaders_for(cfg, phase):
        loader = cfg.get(loader_key, None)
        if not isinstance(loader, dict):
            continue
        for key, ds in iter_dataset_cfgs(loader.get('dataset'), f'{loader_key}.dataset'):
            if not _uses_local_storage(ds):
                continue
            for field, path in _dataset_paths(ds):
                note = '' if field == 'data_root' or not ds.get('data_root') else \
                    f' under data_root {ds["data_root"]!r}'
                checker.check(path, f'{key}.{field}', f'{key}.data_root=/path/to/data', note)
            check_dataset_images(ds, key, scope)
    for eval_key in _evaluators_for(cfg, phase):
        for key, metric in iter_metric_cfgs(cfg.get(eval_key, None), eval_key):
            ann_file = metric.get('ann_file', None)
            if isinstance(ann_file, str) and ann_file and not _is_remote(ann_file) \
                    and _uses_local_storage(metric):
                checker.check(ann_file, f'{key}.ann_file',
                              f'{key}.ann_file=/path/to/annotations.json')


class _PathChecker:
    """Existence (and, for mmdet .json annotation files, COCO format) of each path, once."""

    def __init__(self, coco: bool, demo_kind: str, need_annotations: bool):
        self.coco, self.need_annotations = coco, need_annotations
        self.demo_hint = demo_data_cmd(demo_kind)
        self.seen = set()

    def check(self, path: str, key: str, option: str, note: str = '') -> None:
        """``key``: the config key the path comes from; ``option``: the --cfg-options fix."""
        if path in self.seen:
            return
        self.seen.add(path)
        if not osp.exists(path):
            fail(f'dataset path not found: {path!r} (from {key}{note}; current directory: '
                 f'{os.getcwd()}). Put the dataset there, point the config at it with '
                 f'`--cfg-options {option}` (likewise for the other dataloaders/evaluators), '
                 f'or create a small demo dataset with {self.demo_hint}.')
        if self.coco and key.endswith('ann_file') and path.endswith('.json'):
            check_coco_annotation(path, key, self.need_annotations)


def _count_missing(paths: List[str]) -> Tuple[int, Optional[str]]:
    missing = [p for p in paths if not osp.isfile(p)]
    return len(missing), (missing[0] if missing else None)


def check_dataset_images(ds: dict, key: str, scope: Optional[str]) -> None:
    """Fail clearly, before training, when a dataset lists no image or names image files that
    are not there (counted where that is cheap: COCO files and mmpretrain lists up to 64 MB,
    mmseg image folders)."""
    paths = dict(_dataset_paths(ds))
    ann, img_dir = paths.get('ann_file'), None
    if scope == 'mmdet' and ann and ann.endswith('.json') and osp.isfile(ann) \
            and os.path.getsize(ann) <= FULL_JSON_CHECK_MAX_BYTES:
        img_dir = paths.get('data_prefix.img', ds.get('data_root') or '')
        with open(ann, 'rb') as f:
            images = json.load(f).get('images', [])
        if not images:
            fail(f'annotation file {ann!r} ({key}.ann_file) lists no images ("images" is '
                 'empty), so there is nothing to train or evaluate on; point ann_file at the '
                 f'right file or recreate it (demo data: {demo_data_cmd("coco --force")}).')
        files = [osp.join(img_dir, str(im.get('file_name', ''))) for im in images]
        what = f'images listed in {ann!r}'
    elif scope == 'mmseg' and 'data_prefix.img_path' in paths and not ann \
            and osp.isdir(paths['data_prefix.img_path']):
        img_dir = paths['data_prefix.img_path']
        img_suffix = ds.get('img_suffix', '.jpg')
        seg_dir = paths.get('data_prefix.seg_map_path')
        seg_suffix = ds.get('seg_map_suffix', '.png')
        images = sorted(osp.relpath(osp.join(d, n), img_dir)
                        for d, _, names in os.walk(img_dir) for n in names
                        if n.endswith(img_suffix))
        if not images:
            fail(f'the image folder {img_dir!r} ({key}.data_prefix.img_path) holds no '
                 f'{img_suffix} image, so there is nothing to train or evaluate on; point '
                 f'data_root/data_prefix at the dataset (demo data: {demo_data_cmd("ade")}).')
        if not seg_dir:
            return
        files = [osp.join(seg_dir, i[:-len(img_suffix)] + seg_suffix) for i in images]
        what = f'segmentation maps of the images in {img_dir!r} (in {seg_dir!r})'
    elif scope == 'mmpretrain' and ann and not ann.endswith('.json') and osp.isfile(ann) \
            and os.path.getsize(ann) <= FULL_JSON_CHECK_MAX_BYTES:
        prefix = ds.get('data_prefix') or ''
        prefix = prefix.get('img_path', '') if isinstance(prefix, dict) else prefix
        root = ds.get('data_root') or ''
        img_dir = prefix if osp.isabs(prefix) or not root else osp.join(root, prefix)
        with open(ann) as f:  # CustomDataset / ImageNet lists: "relative/path label"
            names = [line.strip().rsplit(' ', 1)[0] for line in f if line.strip()]
        if not names:
            fail(f'annotation file {ann!r} ({key}.ann_file) lists no images, so there is '
                 'nothing to train or evaluate on; point ann_file at the right file or '
                 f'recreate it (demo data: {demo_data_cmd("cls --force")}).')
        files = [osp.join(img_dir, n) for n in names]
        what = f'images listed in {ann!r}'
    else:
        return
    missing, first = _count_missing(files)
    if missing:
        fail(f'{missing} of the {len(files)} {what} are missing (e.g. {first!r}; from '
             f'{key}); restore them, or remove their entries from the annotations.')


def _format_only(evaluator: Any) -> bool:
    return any(m.get('format_only') for _, m in iter_metric_cfgs(evaluator, ''))


def check_coco_annotation(path: str, source: str = 'ann_file', need_annotations: bool = True
                          ) -> None:
    """Fail clearly when a COCO annotation file is not JSON or lacks the COCO top-level keys.

    ``need_annotations=False`` accepts image-info-only files (COCO test-dev, format_only).
    """
    required = [k for k in COCO_KEYS if need_annotations or k != 'annotations']
    if os.path.getsize(path) > FULL_JSON_CHECK_MAX_BYTES:
        problem = _scan_large_json(path, required)
    else:
        problem = _parse_small_json(path, required)
    if problem:
        fail(f'malformed COCO annotation file {path!r} ({source}): {problem}. A COCO file is '
             'a JSON object with "images", "annotations" and "categories" lists; recreate it '
             f'(for the demo data: {demo_data_cmd("coco --force")}) or fix the path.')


def _parse_small_json(path: str, required: List[str]) -> Optional[str]:
    try:
        with open(path, 'rb') as f:
            data = json.load(f)
    except (UnicodeDecodeError, ValueError) as err:
        return f'it is not valid JSON ({err})'
    if not isinstance(data, dict):
        return f'the top level is a JSON {type(data).__name__}, not an object'
    missing = [k for k in required if k not in data]
    if missing:
        return (f'missing top-level key(s) {", ".join(repr(k) for k in missing)} '
                f'(it has: {", ".join(repr(k) for k in list(data)[:10]) or "nothing"})')
    not_lists = [k for k in required if not isinstance(data[k], list)]
    if not_lists:
        return f'{", ".join(repr(k) for k in not_lists)} must be list(s)'
    return None


def _scan_large_json(path: str, required: List[str]) -> Optional[str]:
    """Cheap check for huge files: starts like a JSON object and mentions the COCO keys."""
    with open(path, 'rb') as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:64].lstrip()[:1] != b'{':
            return 'it does not start with a JSON object ("{")'
        missing = [k for k in required if data.find(f'"{k}"'.encode()) < 0]
    if missing:
        return f'missing key(s) {", ".join(repr(k) for k in missing)}'
    return None


def check_run(cfg: Config, phase: str) -> None:
    """All pre-Runner checks for ``phase`` ('train' or 'test'): AMP device, checkpoint and
    dataset paths."""
    if phase == 'train':  # testing never builds the optimizer wrapper nor runs init_weights
        check_amp_supported(cfg)
        check_pretrained(cfg)
    check_checkpoint(cfg.get('load_from', None), '`load_from`')
    check_datasets(cfg, phase)


# ----------------------------------------------------------------------------------------------
# Runner and entry points
# ----------------------------------------------------------------------------------------------
def build_runner(cfg: Config):
    """Build the Runner as upstream: ``RUNNERS.build`` if ``runner_type`` is set."""
    from mmengine.runner import Runner
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    try:
        registry = importlib.import_module(f'{library_of(cfg)}.registry').RUNNERS
    except ImportError:
        from mmengine.registry import RUNNERS as registry
    return registry.build(cfg)


def check_work_dir(work_dir: str) -> None:
    """Fail clearly when the work directory cannot be created or written to."""
    try:
        os.makedirs(work_dir, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=work_dir, prefix='.write-test-')
        probe.close()
    except OSError as err:
        fail(f'cannot write to the work directory {work_dir!r} ({err.strerror or err}); '
             'choose a writable directory with --work-dir.')


def _backbone_cfg(cfg: Config) -> dict:
    model = cfg.get('model', None) or {}
    if 'module' in model and 'backbone' not in model:  # test-time augmentation wrapper
        model = model['module']
    backbone = model.get('backbone', None)
    return backbone if isinstance(backbone, dict) else {}


def _is_metaformer(backbone_cfg: dict) -> bool:
    return str(backbone_cfg.get('type', '')).split('.')[-1] == 'MetaFormer'


def read_load_from(cfg: Config, phase: str, allow_partial: bool):
    """Read the ``load_from`` / CHECKPOINT file once, before the Runner is built (None when
    there is nothing to check: resuming, unset, remote). A backbone-only file of a published
    layout becomes ``model.backbone.init_cfg`` for training (and says so); for testing it is
    refused unless ``allow_partial``. Returns (path, state dict, backbone-only?)."""
    from .load_check import backbone_only_layout, describe_state, file_state
    path = cfg.get('load_from', None)
    if not path or cfg.get('resume', False) or _is_remote(path):
        return None
    source = 'CHECKPOINT' if phase == 'test' else 'load_from'
    state = file_state(load_checkpoint_file(path, source=source))
    backbone = _backbone_cfg(cfg)
    if backbone_only_layout(state) is None or not _is_metaformer(backbone):
        return path, state, False
    what = describe_state(state)
    if phase == 'train':
        backbone['init_cfg'] = dict(type='Pretrained', checkpoint=path)
        cfg.load_from = None
        print_log(f'load_from {path} is {what}: it is loaded into model.backbone (as '
                  'model.backbone.init_cfg); the rest of the model starts from its own '
                  'initialisation.', logger='current', level=logging.WARNING)
        return None
    if not allow_partial:
        fail(f'CHECKPOINT {path} is {what}: it has no weights for the rest of the model, so '
             'the evaluation would be meaningless. Train the whole model from it '
             f"(model.backbone.init_cfg=dict(type='Pretrained', checkpoint='{path}')) and "
             'test that checkpoint, or pass --allow-partial to evaluate it anyway.')
    cfg.load_from = None  # loaded into the backbone after the Runner is built
    return path, state, True


def check_loaded_file(runner, phase: str, checked, allow_partial: bool) -> None:
    """Refuse (or, with ``allow_partial``, report) a file that does not fill the model."""
    from .checkpoint import load_pretrained
    from .load_check import check_checkpoint_fits, model_for_loading
    if checked is None:
        return
    path, state, backbone_only = checked
    source = 'CHECKPOINT' if phase == 'test' else 'load_from'
    if backbone_only:
        report = load_pretrained(model_for_loading(runner.model).backbone, path)
        print_log(f'--allow-partial: loaded only the backbone from {path}; the rest of the '
                  f'model is randomly initialised ({report.splitlines()[0]}).',
                  logger='current', level=logging.WARNING)
        return
    report = check_checkpoint_fits(runner.model, state, path, source, allow_partial)
    print_log(report, logger='current',
              level=logging.WARNING if allow_partial else logging.INFO)


# The default hooks mmengine's Runner knows; `None` removes one of these. Other names (the
# libraries' `visualization`, mmmeta's `divergence`) are dropped here when set to None, since
# the Runner would assert on them.
MMENGINE_DEFAULT_HOOKS = ('runtime_info', 'timer', 'sampler_seed', 'logger', 'param_scheduler',
                          'checkpoint')


def drop_disabled_hooks(cfg: Config) -> None:
    """``default_hooks.NAME=None`` disables hook NAME, whatever its name."""
    hooks = cfg.get('default_hooks', None)
    if isinstance(hooks, dict):
        for name in [n for n, h in hooks.items() if h is None]:
            if name not in MMENGINE_DEFAULT_HOOKS:
                del hooks[name]


def prepare(cfg: Config, phase: str, allow_partial: bool = False):
    """Adapt to the device, check, import the library, init distributed, build the Runner."""
    distributed = cfg.get('launcher', 'none') != 'none'
    drop_disabled_hooks(cfg)
    adapt_cfg_for_device(cfg, distributed)
    check_run(cfg, phase)
    check_work_dir(cfg.work_dir)
    lib = init_library(cfg)
    check_config_keys(cfg, lib)
    checked = read_load_from(cfg, phase, allow_partial)
    if distributed:
        dist_cfg = dict((cfg.get('env_cfg', None) or {}).get('dist_cfg', None) or {})
        init_distributed(cfg.launcher, **dist_cfg)
    runner = build_runner(cfg)
    check_loaded_file(runner, phase, checked, allow_partial)
    return runner


def run_train(argv: Optional[Sequence[str]] = None):
    """``tools/train.py``: returns the Runner after training."""
    args = parse_args(build_train_parser(), argv)
    cfg = apply_train_args(load_config(args.config), args)
    runner = prepare(cfg, 'train', args.allow_partial)
    runner.train()
    return runner


def run_test(argv: Optional[Sequence[str]] = None):
    """``tools/test.py``: returns the metrics of ``runner.test()``."""
    args = parse_args(build_test_parser(), argv)
    cfg = apply_test_args(load_config(args.config), args)
    runner = prepare(cfg, 'test', args.allow_partial)
    return runner.test()


def main_train(argv: Optional[Sequence[str]] = None):
    """tools/train.py: :func:`run_train` with one-sentence errors (mmmeta.cli.run_tool)."""
    return run_tool(run_train, argv)


def main_test(argv: Optional[Sequence[str]] = None):
    """tools/test.py: :func:`run_test` with one-sentence errors (mmmeta.cli.run_tool)."""
    return run_tool(run_test, argv)
