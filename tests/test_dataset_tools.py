"""tools/analysis/plot_logs.py and tools/browse_dataset.py."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # browse_dataset/plot_logs run as tools

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def load_tool(relpath: str):
    """tools/ is not a package: load a script as a module."""
    path = REPO / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def plot_logs():
    pytest.importorskip('matplotlib')
    return load_tool('tools/analysis/plot_logs.py')


def write_log(path: Path, epochs: int = 3, iters: int = 4, metric: str = 'coco/bbox_mAP') -> Path:
    """A scalars.json as mmengine's LoggerHook writes it for an epoch-based run."""
    rows = []
    for epoch in range(1, epochs + 1):
        for i in range(1, iters + 1):
            it = (epoch - 1) * iters + i
            rows.append(dict(lr=0.01, data_time=0.1, loss=2.0 / it, loss_cls=1.0 / it,
                             time=0.3, iter=it, memory=120, epoch=epoch, step=it))
        rows.append({metric: 0.1 * epoch, f'{metric}_copypaste': '0.1 0.2', 'data_time': 0.1,
                     'time': 0.2, 'step': epoch})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return path


def test_plot_logs_default_keys(tmp_path, plot_logs):
    log = write_log(tmp_path / 'run' / '20240101_000000' / 'vis_data' / 'scalars.json')
    out = tmp_path / 'plots' / 'curves.png'
    assert plot_logs.main([str(log), '--out', str(out), '--title', 'demo']) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    loaded = plot_logs.load_log(str(log))
    assert plot_logs.default_keys([loaded]) == ['loss', 'coco/bbox_mAP']
    assert loaded.val_unit() == 'epoch'
    xs, ys, unit = plot_logs.series(loaded, 'loss')
    assert unit == 'iter' and xs == list(range(1, 13)) and ys[0] == 2.0


def test_plot_logs_work_dir_several_logs_and_legend(tmp_path, plot_logs):
    write_log(tmp_path / 'a' / '20240101_000000' / 'vis_data' / 'scalars.json')
    write_log(tmp_path / 'b' / '20240102_000000' / 'vis_data' / 'scalars.json', epochs=2)
    out = tmp_path / 'cmp.png'
    plot_logs.main([str(tmp_path / 'a'), str(tmp_path / 'b'), '--keys', 'loss_cls', 'lr',
                    'coco/bbox_mAP', '--legend', 'A', 'B', '--out', str(out)])
    assert out.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(SystemExit, match='one per log'):
        plot_logs.main([str(tmp_path / 'a'), str(tmp_path / 'b'), '--legend', 'A'])


def test_plot_logs_unknown_key_lists_available(tmp_path, plot_logs):
    log = write_log(tmp_path / 'scalars.json', metric='mIoU')
    with pytest.raises(SystemExit) as err:
        plot_logs.main([str(log), '--keys', 'loss', 'coco/bbox_mAP', '--out',
                        str(tmp_path / 'x.png')])
    message = str(err.value)
    assert 'coco/bbox_mAP' in message and 'available' in message and 'mIoU' in message
    assert not (tmp_path / 'x.png').exists()


def test_plot_logs_cli_errors_without_traceback(tmp_path, plot_logs):
    script = str(REPO / 'tools' / 'analysis' / 'plot_logs.py')
    missing = subprocess.run([sys.executable, script, str(tmp_path / 'nope.json')],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and 'not found' in missing.stderr
    assert 'Traceback' not in missing.stderr
    (tmp_path / 'bad.json').write_text('{"loss": 1.0}\nnot json\n')
    bad = subprocess.run([sys.executable, script, str(tmp_path / 'bad.json')],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and 'bad.json:2' in bad.stderr and 'Traceback' not in bad.stderr


# --- browse_dataset (needs the OpenMMLab stack) ------------------------------------------------

BROWSE = str(REPO / 'tools' / 'browse_dataset.py')


def browse(*args, cwd):
    return subprocess.run([sys.executable, BROWSE, *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def det_config(tmp_path: Path, data_root: Path) -> Path:
    from mmmeta.demo_data import METAINFO
    cfg = tmp_path / 'browse_det.py'
    cfg.write_text(f"""
default_scope = 'mmdet'
custom_imports = dict(imports=['mmmeta'], allow_failed_imports=False)
train_dataloader = dict(
    batch_size=1,
    dataset=dict(
        type='CocoDataset', data_root={str(data_root) + '/'!r},
        ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
        metainfo=dict(classes={METAINFO['classes']!r}, palette={METAINFO['palette']!r}),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackDetInputs'),
        ]))
visualizer = dict(type='DetLocalVisualizer', name='browse_det_test')
""")
    return cfg


def seg_config(tmp_path: Path, data_root: Path) -> Path:
    from mmmeta.demo_data import SEG_METAINFO
    cfg = tmp_path / 'browse_seg.py'
    cfg.write_text(f"""
default_scope = 'mmseg'
custom_imports = dict(imports=['mmmeta'], allow_failed_imports=False)
val_dataloader = dict(
    batch_size=1,
    dataset=dict(
        type='BaseSegDataset', data_root={str(data_root)!r}, img_suffix='.jpg',
        seg_map_suffix='.png', reduce_zero_label=True,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        metainfo=dict(classes={SEG_METAINFO['classes']!r},
                      palette={SEG_METAINFO['palette']!r}),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='PackSegInputs'),
        ]))
visualizer = dict(type='SegLocalVisualizer', name='browse_seg_test')
""")
    return cfg


def test_browse_dataset_mmdet(tmp_path):
    pytest.importorskip('mmdet')
    from mmmeta.demo_data import make_coco_demo
    make_coco_demo(tmp_path / 'coco', num_train=4, num_val=2, size=(96, 128))
    cfg = det_config(tmp_path, tmp_path / 'coco')
    out = tmp_path / 'drawn'
    # the drawing: the tool's main() in-process (the subprocess runs below and in
    # test_browse_dataset_missing_config check its exit status and messages)
    tool = load_tool('tools/browse_dataset.py')
    assert tool.main([str(cfg), '--not-show', '--output-dir', str(out), '--max-images', '3']) == 0
    assert sorted(p.name for p in out.iterdir()) == [f'train_{i:06d}.jpg' for i in (1, 2, 3)]
    # a missing dataset: a clear message naming the path and the fixes, no traceback
    missing = browse(cfg, '--not-show', '--cfg-options',
                     f'train_dataloader.dataset.data_root={tmp_path}/nowhere/', cwd=tmp_path)
    assert missing.returncode != 0 and 'Traceback' not in missing.stderr
    assert 'nowhere' in missing.stderr and 'make_demo_data.py coco' in missing.stderr
    assert 'train_dataloader.dataset.data_root=' in missing.stderr


def test_browse_dataset_mmseg(tmp_path):
    pytest.importorskip('mmseg')
    from mmmeta.demo_data import make_ade_demo
    make_ade_demo(tmp_path / 'ade', num_train=2, num_val=2, size=(96, 128))
    cfg = seg_config(tmp_path, tmp_path / 'ade')
    out = tmp_path / 'drawn'
    tool = load_tool('tools/browse_dataset.py')  # main() in-process, as in the mmdet test
    assert tool.main([str(cfg), '--not-show', '--phase', 'val', '--output-dir', str(out)]) == 0
    assert len(list(out.glob('val_ADE_val_*.jpg'))) == 2


def test_browse_dataset_missing_config(tmp_path):
    pytest.importorskip('mmengine')
    run = browse(tmp_path / 'no_such_config.py', '--not-show', cwd=tmp_path)
    assert run.returncode != 0 and 'config file not found' in run.stderr
    assert 'Traceback' not in run.stderr
