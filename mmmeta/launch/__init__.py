"""The logic behind ``tools/train.py`` and ``tools/test.py``, importable and unit-testable.

The tools follow mmdet 3.3.0 / mmseg 1.2.2 upstream (same arguments, same config edits) and add
what a CPU-only machine and a first-time user need. One module per reason to change:

* :mod:`.configs`: finding configs by name, loading them, their library (``default_scope``)
  and its registries, walking wrapper datasets and evaluators; used by every tool.
* :mod:`.args`: the command-line arguments and the config edits they make.
* :mod:`.device`: mixed precision, CPU-only runs (SyncBN -> BN, DDP on gloo), slurm/mpi
  environments and the distributed initialisation.
* :mod:`.checks` and :mod:`.data_checks`: one-sentence errors (``SystemExit``, no traceback)
  for what otherwise fails deep inside the stack: a missing checkpoint or dataset path, a
  partial checkpoint to resume from, a malformed COCO file, an unwritable work directory.
* :mod:`.runner`: building the Runner and the entry points; :mod:`.verify`: the dataset checks
  on their own (``tools/misc/verify_dataset.py``).

Config syntax errors, malformed ``--cfg-options``, unknown config keys and unreadable files are
one sentence too (:mod:`mmmeta.cli`).
"""
from .args import (
                   apply_common_args,
                   apply_test_args,
                   apply_train_args,
                   build_test_parser,
                   build_train_parser,
                   parse_args,
)
from .checks import (
                   check_checkpoint,
                   check_complete,
                   check_pretrained,
                   check_run,
                   check_work_dir,
                   find_resume_checkpoint,
                   resolve_auto_resume,
)
from .configs import (
                   SUPPORTED_SCOPES,
                   backbone_cfg,
                   config_dirs,
                   init_library,
                   is_remote,
                   iter_dataset_cfgs,
                   iter_metric_cfgs,
                   library_of,
                   library_registry,
                   load_config,
                   project_root,
                   resolve_config,
                   resolve_shipped_files,
                   shipped_configs,
)
from .data_checks import (
                   check_coco_annotation,
                   check_dataloaders,
                   check_dataset_images,
                   check_datasets,
                   dataset_not_found,
)
from .device import (
                   LAUNCHERS,
                   accelerator_available,
                   adapt_cfg_for_device,
                   check_amp_supported,
                   convert_syncbn_to_bn,
                   init_distributed,
                   require_amp_device,
)
from .runner import (
                   build_runner,
                   check_loaded_file,
                   command,
                   drop_disabled_hooks,
                   main_test,
                   main_train,
                   prepare,
                   read_load_from,
                   run_test,
                   run_train,
)
from .verify import main_verify, run_verify

__all__ = [
    'accelerator_available', 'adapt_cfg_for_device', 'apply_common_args', 'apply_test_args',
    'apply_train_args', 'backbone_cfg', 'build_runner', 'build_test_parser',
    'build_train_parser', 'check_amp_supported', 'check_checkpoint', 'check_coco_annotation',
    'check_complete', 'check_dataloaders', 'check_dataset_images', 'check_datasets',
    'check_loaded_file', 'check_pretrained', 'check_run', 'check_work_dir', 'command',
    'config_dirs', 'convert_syncbn_to_bn', 'dataset_not_found', 'drop_disabled_hooks',
    'find_resume_checkpoint', 'init_distributed', 'init_library', 'is_remote',
    'iter_dataset_cfgs', 'iter_metric_cfgs', 'LAUNCHERS', 'library_of', 'library_registry',
    'load_config', 'main_test', 'main_train', 'main_verify', 'parse_args', 'prepare',
    'project_root', 'read_load_from', 'require_amp_device', 'resolve_auto_resume',
    'resolve_config', 'resolve_shipped_files', 'run_test', 'run_train', 'run_verify',
    'shipped_configs', 'SUPPORTED_SCOPES'
]
