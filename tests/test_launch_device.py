"""mmmeta.launch.device: CPU-only runs (SyncBN -> BN, DDP on gloo), the slurm/mpi environment
and the distributed initialisation; the distributed test starts two real processes with
torchrun."""
import os
import socket
import subprocess
import sys

import pytest
from launch_helpers import ROOT, config_for_train, error_of, set_accelerator
from mmengine.config import Config

from mmmeta.launch import device


@pytest.mark.unit
def test_syncbn_to_bn_recursive(det_cfg_file, cpu_only):
    cfg = config_for_train([det_cfg_file])
    device.adapt_cfg_for_device(cfg, distributed=False)
    assert cfg.norm_cfg.type == 'BN'
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.model.neck.norm_cfg.type == 'BN'
    assert cfg.model.bbox_head.stacked[0].norm_cfg.type == 'BN'
    assert cfg.model.backbone.norm_cfg.requires_grad is True
    assert 'SyncBN' not in cfg.pretty_text
    assert cfg.get('model_wrapper_cfg') is None  # not distributed: no wrapper
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'


@pytest.mark.unit
def test_cpu_distributed_cfg(det_cfg_file, cpu_only):
    cfg = config_for_train([det_cfg_file, '--launcher', 'pytorch',
                     '--cfg-options', 'find_unused_parameters=True', 'sync_bn=torch'])
    device.adapt_cfg_for_device(cfg, distributed=True)
    assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', device_ids=None,
                                         broadcast_buffers=False, find_unused_parameters=True)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.sync_bn is None
    # An existing wrapper config keeps its settings but loses the GPU device ids.
    cfg = Config(dict(model_wrapper_cfg=dict(type='MMDistributedDataParallel',
                                             device_ids=[0], detect_anomalous_params=True)))
    device.adapt_cfg_for_device(cfg, distributed=True)
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.model_wrapper_cfg.detect_anomalous_params is True
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'


@pytest.mark.unit
def test_accelerator_leaves_cfg_alone(det_cfg_file, monkeypatch):
    set_accelerator(monkeypatch, True)
    cfg = config_for_train([det_cfg_file])
    before = cfg.pretty_text
    device.adapt_cfg_for_device(cfg, distributed=True)
    assert cfg.pretty_text == before


@pytest.mark.unit
def test_init_distributed_without_env(cpu_only, monkeypatch):
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    device.init_distributed('none')  # no-op
    with pytest.raises(SystemExit) as exc:
        device.init_distributed('pytorch')
    assert 'RANK' in error_of(exc) and 'dist_train.sh' in error_of(exc)
    with pytest.raises(SystemExit) as exc:
        device.init_distributed('pytorch', backend='nccl')
    assert 'gloo' in error_of(exc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.unit
def test_init_distributed_slurm_single_task_cpu(cpu_only, monkeypatch):
    """The slurm path without CUDA: env vars from SLURM_*, then a gloo group."""
    import torch.distributed as dist
    for name, value in dict(SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_NODELIST='localhost',
                            SLURM_LOCALID='0', MASTER_ADDR='127.0.0.1').items():
        monkeypatch.setenv(name, value)
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_PORT'):
        monkeypatch.setenv(name, 'x')  # recorded, so they are restored afterwards
        monkeypatch.delenv(name)
    assert not dist.is_initialized()
    try:
        device.init_distributed('slurm', backend='gloo', port=_free_port(), timeout=60)
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
        assert (dist.get_rank(), dist.get_world_size()) == (0, 1)
        assert os.environ['LOCAL_RANK'] == '0'
        device.init_distributed('slurm')  # already initialised: no-op
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


DIST_SCRIPT = '''
import sys
import torch
import torch.distributed as dist
import mmmeta  # noqa: F401
from launch_helpers import ToyDataset, ToyModel  # PYTHONPATH has tests/
from mmmeta import launch
from mmengine.config import Config
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import DATASETS, MODELS

MODELS.register_module(name='LaunchToyModel', module=ToyModel)
DATASETS.register_module(name='LaunchToyDataset', module=ToyDataset)

launch.init_distributed('pytorch')
rank = dist.get_rank()
value = torch.tensor([rank + 1.0])
dist.all_reduce(value)
assert value.item() == 3.0, value

cfg = Config(dict(
    model=dict(type='LaunchToyModel'),
    work_dir=sys.argv[1],
    launcher='pytorch',
    train_dataloader=dict(batch_size=2, num_workers=0,
                          sampler=dict(type='DefaultSampler', shuffle=True),
                          collate_fn=dict(type='default_collate'),
                          dataset=dict(type='LaunchToyDataset', length=8)),
    train_cfg=dict(by_epoch=False, max_iters=2),
    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
    default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
    env_cfg=dict(dist_cfg=dict(backend='nccl')),
))
launch.adapt_cfg_for_device(cfg, distributed=True)
assert cfg.model_wrapper_cfg.device_ids is None and cfg.env_cfg.dist_cfg.backend == 'gloo'
runner = launch.build_runner(cfg)
runner.train()
assert isinstance(runner.model, MMDistributedDataParallel), type(runner.model)
assert runner.iter == 2 and runner.world_size == 2
print(f'RANK {rank} DONE', flush=True)
'''


@pytest.mark.e2e
@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path):
    script = tmp_path / 'dist_toy.py'
    script.write_text(DIST_SCRIPT)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / 'tests'),
                                           os.environ.get('PYTHONPATH', '')]))
    env.pop('LOCAL_RANK', None)
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
         '2', str(script), str(tmp_path / 'work')],
        env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert 'RANK 0 DONE' in output and 'RANK 1 DONE' in output, output[-4000:]
    assert (tmp_path / 'work' / 'iter_2.pth').is_file()
