"""The Runner and the entry points of tools/train.py and tools/test.py: adapt the config to the
device, check everything the run needs, import the library, initialise distributed training,
build the Runner and check that ``load_from`` / CHECKPOINT fills the whole model
(:mod:`mmmeta.load_check`; ``--allow-partial`` loads part of it on purpose).
"""
import logging
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.logging import print_log

from ..checkpoint import load_pretrained
from ..cli import check_config_keys, fail, run_tool
from ..files import load_checkpoint_file
from ..load_check import (
    backbone_only_layout,
    check_checkpoint_fits,
    describe_state,
    file_state,
    model_for_loading,
)
from .args import (
    apply_test_args,
    apply_train_args,
    build_test_parser,
    build_train_parser,
    parse_args,
)
from .checks import check_run, check_work_dir
from .configs import backbone_cfg, init_library, is_remote, library_registry, load_config
from .device import adapt_cfg_for_device, init_distributed


def build_runner(cfg: Config):
    """Build the Runner as upstream: ``RUNNERS.build`` if ``runner_type`` is set."""
    from mmengine.runner import Runner
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return library_registry(cfg, 'RUNNERS').build(cfg)


def _is_metaformer(backbone: dict) -> bool:
    return str(backbone.get('type', '')).split('.')[-1] == 'MetaFormer'


def read_load_from(cfg: Config, phase: str, allow_partial: bool):
    """Read the ``load_from`` / CHECKPOINT file once, before the Runner is built (None when
    there is nothing to check: resuming, unset, remote). A backbone-only file of a published
    layout becomes ``model.backbone.init_cfg`` for training (and says so); for testing it is
    refused unless ``allow_partial``. Returns (path, state dict, backbone-only?)."""
    path = cfg.get('load_from', None)
    if not path or cfg.get('resume', False) or is_remote(path):
        return None
    source = 'CHECKPOINT' if phase == 'test' else 'load_from'
    state = file_state(load_checkpoint_file(path, source=source))
    backbone = backbone_cfg(cfg)
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


def command(phase: str, argv: Optional[Sequence[str]] = None) -> int:
    """``mmmeta-train`` / ``mmmeta-test`` (``phase`` 'train' or 'test'): exit status 0 when
    the run finishes (errors exit through :func:`mmmeta.cli.run_tool`)."""
    (main_train if phase == 'train' else main_test)(argv)
    return 0
