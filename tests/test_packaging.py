"""mmmeta as a package: a built wheel (not the clone) trains, tests and infers by config name, mim
drives it, the metadata asks for version ranges, and the installer's environment lets the stock
upstream tools load the checkpoints mmengine writes.

The wheel goes into a fresh venv that sees the already installed stack through a path entry (so
nothing is downloaded) but not the editable mmmeta of this checkout; every command runs outside
the clone.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import List

import pytest
import torch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # wheel build, fresh venv, subprocesses

ROOT = Path(__file__).resolve().parents[1]
COPY_IGNORE = shutil.ignore_patterns('.git', '.venv', 'data', 'work_dirs', 'build', 'dist', '.mim',
                                     '__pycache__', '*.egg-info', 'tests', '.pytest_cache')
DEMO = 'retinanet_poolformer_s12_demo'
# 2 iterations of batch 1 on 128x128 images, evaluated at the end, every box kept
TINY = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.logger.interval=1',
        'model.test_cfg.score_thr=0.0'] + [
    f'{loader}.{key}' for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    for key in ('batch_size=1', 'num_workers=0', 'persistent_workers=False')]


def run(cmd: List[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    env.pop('PYTHONPATH', None)
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    proc.output = proc.stdout + proc.stderr
    return proc


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.output[-5000:]
    return proc.output


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of this working tree (the build never touches the clone)."""
    src = tmp_path_factory.mktemp('src') / 'mmmeta'
    shutil.copytree(ROOT, src, ignore=COPY_IGNORE, symlinks=False)
    out = src.parent / 'dist'
    ok(run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
            '-w', out, src], cwd=src))
    (path,) = out.glob('mmmeta-*.whl')
    return path


@pytest.fixture(scope='module')
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; the stack comes from the test's environment."""
    env_dir = tmp_path_factory.mktemp('venv') / 'env'
    ok(run([getattr(sys, '_base_executable', sys.executable), '-m', 'venv', '--without-pip',
            env_dir], cwd=env_dir.parent))
    py = env_dir / 'bin' / 'python'
    site = Path(ok(run([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                       cwd=env_dir)).strip())
    (site / 'zz_stack.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    ok(run([sys.executable, '-m', 'pip', '--python', py, 'install', '-q', '--no-deps', '--no-index',
            wheel], cwd=env_dir))
    return env_dir


def test_wheel_carries_configs_tools_and_entry_points(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ('mmmeta/.mim/configs/retinanet_poolformer_s12_1x_coco.py',
                   'mmmeta/.mim/configs/_base_/models/retinanet_fpn.py',
                   f'mmmeta/.mim/configs/demo/{DEMO}.py',
                   'mmmeta/.mim/tools/train.py', 'mmmeta/.mim/tools/test.py',
                   'mmmeta/.mim/checkpoints/demo/poolformer_s12_shapes.safetensors',
                   '_mmmeta_safe_load.py', 'mmmeta-safe-load.pth', 'mmmeta/train.py'):
        assert needed in names, needed
    info = next(n for n in names if n.endswith('.dist-info/METADATA'))
    meta = zipfile.ZipFile(wheel).read(info).decode()
    requires = [line for line in meta.splitlines() if line.startswith('Requires-Dist:')]
    assert any(line.startswith('Requires-Dist: mmengine') for line in requires)
    pinned = [line for line in requires if '==' in line.split(';')[0]]
    assert not pinned, f'exact pins replace a user\'s packages: {pinned}'
    scripts = zipfile.ZipFile(wheel).read(info.replace('METADATA', 'entry_points.txt')).decode()
    for script in ('mmmeta-train', 'mmmeta-test', 'mmmeta-infer', 'mmmeta-demo-data'):
        assert f'{script} =' in scripts, script


def test_wheel_trains_and_tests_the_demo_by_name(venv, tmp_path):
    """Outside any clone: demo data, train by config name (the shipped demo backbone is found
    in the package), test the checkpoint with the COCO metric, infer on a folder; then mim
    trains and tests through the package's .mim/tools."""
    bin_dir = venv / 'bin'
    # where `import mmmeta` resolves in the venv (find_spec locates the package without running
    # its torch-importing __init__; the train/test/infer commands below then import it)
    where = ok(run([bin_dir / 'python', '-c', 'import importlib.util; '
                    'print(importlib.util.find_spec("mmmeta").origin)'], cwd=tmp_path))
    assert str(venv) in where and str(ROOT) not in where, where
    ok(run([bin_dir / 'mmmeta-demo-data', 'coco', '--num-train', 4, '--num-val', 2, '--size',
            128, 128], cwd=tmp_path))
    # one iteration (evaluated at its end) proves training by name and writes the checkpoint
    out = ok(run([bin_dir / 'mmmeta-train', DEMO, '--work-dir', 'work', '--cfg-options', *TINY,
                  'train_cfg.max_iters=1', 'train_cfg.val_interval=1'], cwd=tmp_path))
    assert 'mmmeta/.mim/checkpoints/demo/poolformer_s12_shapes.safetensors' in out, out[-3000:]
    assert 'coco/bbox_mAP' in out  # the evaluation at the end of training ran
    ckpt = tmp_path / 'work' / 'iter_1.pth'
    assert ckpt.is_file()
    out = ok(run([bin_dir / 'mmmeta-test', DEMO, ckpt, '--work-dir', 'test',
                  '--cfg-options', *TINY], cwd=tmp_path))
    assert 'coco/bbox_mAP' in out
    out = ok(run([bin_dir / 'mmmeta-infer', DEMO, ckpt, 'data/demo_coco/val', '--out-dir', 'inf'],
                 cwd=tmp_path))
    predictions = json.loads((tmp_path / 'inf' / 'predictions.json').read_text())
    assert len(predictions['results']) == 2 and len(list((tmp_path / 'inf' / 'vis').iterdir())) == 2

    # mim finds the package's .mim/tools and configs by name
    out = ok(run([bin_dir / 'python', '-m', 'mim', 'train', 'mmmeta', f'{DEMO}.py', '--work-dir',
                  'mim_train', '--cfg-options', *TINY, 'train_cfg.max_iters=1'], cwd=tmp_path))
    assert '.mim/tools/train.py' in out and (tmp_path / 'mim_train' / 'iter_1.pth').is_file()
    out = ok(run([bin_dir / 'python', '-m', 'mim', 'test', 'mmmeta', f'{DEMO}.py', '--checkpoint',
                  ckpt, '--work-dir', 'mim_test', '--cfg-options', *TINY], cwd=tmp_path))
    assert 'coco/bbox_mAP' in out and '.mim/tools/test.py' in out


MIM_DOWNLOAD = '''
import functools, http.server, sys, threading
import mim.utils.utils as mim_utils
from mim.commands.download import download
served, dest, config = sys.argv[1:]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=served)
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
real = mim_utils.get_content_from_url
def loopback(url, *args, **kwargs):  # the file name of the metafile's URL, served here
    print('requested', url)
    return real(f'http://127.0.0.1:{server.server_port}/' + url.rsplit('/', 1)[1], *args, **kwargs)
mim_utils.get_content_from_url = loopback
print('downloaded', download('mmmeta', [config], dest_root=dest))
'''


def test_mim_download_reads_the_model_index(venv, tmp_path):
    """`mim download mmmeta --config NAME`: the weights URL and config come from the wheel's
    model-index (the transfer is served by a loopback server under the URL's file name)."""
    from mmmeta.weights import WEIGHTS
    name, url = 'cls_poolformer_s12_300e_in1k', WEIGHTS['poolformer_s12'].url
    served = tmp_path / 'served'
    served.mkdir()
    torch.save({'state_dict': {}}, served / url.rsplit('/', 1)[1])
    out = ok(run([venv / 'bin' / 'python', '-c', MIM_DOWNLOAD, served, tmp_path / 'dest', name],
                 cwd=tmp_path))
    assert f'requested {url}' in out, out[-3000:]
    assert (tmp_path / 'dest' / url.rsplit('/', 1)[1]).is_file()
    assert (tmp_path / 'dest' / f'{name}.py').is_file()


def test_stock_mmseg_tool_loads_mmengine_checkpoint(tmp_path):
    """The installer's environment: mmseg's own tools/test.py (which never imports mmmeta) with
    mmseg's own PoolFormer config evaluates a checkpoint in mmengine's format (message hub with
    HistoryBuffer statistics), which torch's weights_only default alone refuses."""
    import mmseg
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    from mmmeta.demo_data import make_ade_demo

    stock = Path(mmseg.__file__).parent / '.mim'
    config = stock / 'configs' / 'poolformer' / 'fpn_poolformer_s12_8xb4-40k_ade20k-512x512.py'
    register_all_modules()
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    hub = MessageHub.get_instance('packaging-test')
    hub.update_scalar('train/loss', 1.5)
    ckpt = tmp_path / 'iter_1.pth'
    torch.save({'meta': {'iter': 1}, 'state_dict': model.state_dict(),
                'message_hub': hub.state_dict()}, ckpt)

    refused = run([sys.executable, '-c',
                   'import sys, torch; import mmengine.logging; '
                   'sys.meta_path[:] = [f for f in sys.meta_path '
                   'if type(f).__name__ != "_AfterCheckpointModule"]; '
                   f'torch.load({str(ckpt)!r})'], cwd=tmp_path)
    assert refused.returncode != 0 and 'HistoryBuffer' in refused.output, refused.output[-2000:]

    make_ade_demo(tmp_path / 'ade', num_train=1, num_val=2, size=(64, 64), seed=0)
    opts = [f'test_dataloader.dataset.data_root={tmp_path / "ade"}',
            'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
            'test_dataloader.dataset.pipeline.1.scale=(64,64)']
    out = ok(run([sys.executable, stock / 'tools' / 'test.py', config, ckpt, '--work-dir',
                  tmp_path / 'work', '--cfg-options', *opts], cwd=tmp_path))
    assert 'mIoU' in out and 'Unsupported global' not in out


def test_startup_hook_is_lazy(tmp_path):
    """The hook imports nothing heavy at start-up and applies the allow-list only once
    mmengine's checkpoint module is loaded."""
    code = ('import sys; print(json.dumps(["torch" in sys.modules, '
            '"mmengine" in sys.modules, [type(f).__name__ for f in sys.meta_path]]))')
    out = ok(run([sys.executable, '-c', 'import json; ' + code], cwd=tmp_path))
    torch_loaded, mmengine_loaded, finders = json.loads(out.strip().splitlines()[-1])
    assert not torch_loaded and not mmengine_loaded
    assert '_AfterCheckpointModule' in finders
