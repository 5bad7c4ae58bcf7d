"""Devices: mixed precision, CPU-only runs and distributed initialisation.

``mmengine.dist.init_dist`` calls ``torch.cuda.set_device`` unconditionally, so ``torchrun ...
--launcher pytorch`` fails on a machine without CUDA. :func:`init_distributed` opens a gloo
process group itself there (mmengine's Runner then skips its own init) and
:func:`adapt_cfg_for_device` makes the config CPU-runnable (DDP without ``device_ids``, gloo
backend, SyncBN -> BN). Mixed precision (``AmpOptimWrapper``) without a GPU is one sentence.
"""
import datetime
import logging
import os
import subprocess
from typing import Any, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from ..cli import fail

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
# Norm layer types that need a GPU (or a distributed CUDA run); BN is their CPU stand-in.
SYNC_BN_TYPES = frozenset({'SyncBN', 'MMSyncBN', 'NaiveSyncBN', 'SyncBatchNorm'})


# ----------------------------------------------------------------------------------------------
# AMP and CPU-only runs
# ----------------------------------------------------------------------------------------------
def accelerator_available() -> bool:
    """Whether a CUDA (or NPU/MLU/MUSA) device is here: the devices that mmengine's
    ``init_dist`` and ``AmpOptimWrapper`` support. Anything else is run as on a CPU."""
    from mmengine.device import (
        is_cuda_available,
        is_mlu_available,
        is_musa_available,
        is_npu_available,
    )
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
