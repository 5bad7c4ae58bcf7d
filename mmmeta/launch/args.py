"""Command-line arguments of tools/train.py and tools/test.py (the same as mmdet 3.3.0's /
mmseg 1.2.2's upstream tools) and the config edits they make: launcher, --cfg-options,
--work-dir, --amp, --auto-scale-lr, --resume; --show/--show-dir, --tta, --out.
"""
import argparse
import logging
import os
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from ..cli import CfgOptionsAction, fail
from .checks import check_checkpoint, check_complete, resolve_auto_resume
from .configs import iter_dataset_cfgs, library_of
from .device import LAUNCHERS, require_amp_device

CFG_OPTIONS_HELP = (
    'override some settings in the used config, the key-value pair in xxx=yyy format will be '
    'merged into config file. If the value to be overwritten is a list, it should be like '
    'key="[a,b]" or key=a,b. It also allows nested list/tuple values, e.g. '
    'key="[(a,b),(c,d)]". Note that the quotation marks are necessary and that no white space '
    'is allowed.')


def _add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help=CFG_OPTIONS_HELP)
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
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    else:
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    # The pipeline belongs to the datasets that read files, inside any wrapper (RepeatDataset,
    # ConcatDataset, ...), as upstream mmdet walks `dataset.dataset`.
    for _, dataset in iter_dataset_cfgs(cfg.test_dataloader.dataset, 'test_dataloader.dataset'):
        if 'batch_shapes_cfg' in dataset:  # fixes the output size: not compatible with TTA
            dataset['batch_shapes_cfg'] = None
        dataset['pipeline'] = cfg.tta_pipeline


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

