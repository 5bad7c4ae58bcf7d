"""The synthetic shapes datasets: reproducible, valid COCO / ADE20K, and argument checks."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip('cv2')

from mmmeta import demo_data  # noqa: E402
from mmmeta.demo_data import (  # noqa: E402
    CLASSES,
    SEG_CLASSES,
    SEG_PALETTE,
    make_ade_demo,
    make_cls_demo,
    make_coco_demo,
)

REPO = Path(__file__).resolve().parents[1]
TINY = dict(num_train=4, num_val=2, size=(96, 128))
# the module's data sets (conftest.py fixtures coco_root, ade_root), default size and seed
COCO_DATA = dict(num_train=12, num_val=4)
ADE_DATA = dict(num_train=6, num_val=3)


def tree_bytes(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file()}


# --- determinism and caching -----------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize('make', [make_coco_demo, make_ade_demo, make_cls_demo])
def test_same_seed_same_bytes_other_seed_differs(tmp_path, make):
    make(tmp_path / 'a', seed=3, **TINY)
    make(tmp_path / 'b', seed=3, **TINY)
    make(tmp_path / 'c', seed=4, **TINY)
    a, b, c = (tree_bytes(tmp_path / n) for n in 'abc')
    assert a == b
    assert a.keys() == c.keys()
    images = [k for k in a if k.endswith('.jpg')]
    assert all(a[k] != c[k] for k in images)


@pytest.mark.unit
def test_reuse_force_and_stale_files(tmp_path):
    info = make_coco_demo(tmp_path, **TINY)
    assert info['generated'] and info['num_train'] == 4
    stamp = os.stat(info['train_ann_file']).st_mtime_ns
    again = make_coco_demo(tmp_path, **TINY)
    assert not again['generated']
    assert again['num_train_instances'] == info['num_train_instances']
    assert os.stat(info['train_ann_file']).st_mtime_ns == stamp
    assert make_coco_demo(tmp_path, force=True, **TINY)['generated']
    # other arguments: regenerated, and images of the larger run do not linger
    smaller = make_coco_demo(tmp_path, num_train=2, num_val=1, size=(96, 128))
    assert smaller['generated']
    assert sorted(p.name for p in (tmp_path / 'train').iterdir()) == ['000001.jpg', '000002.jpg']
    meta = json.loads((tmp_path / demo_data.META_FILE).read_text())
    assert meta['args']['num_train'] == 2 and meta['args']['size'] == [96, 128]


@pytest.mark.unit
def test_missing_file_triggers_regeneration(tmp_path):
    make_ade_demo(tmp_path, **TINY)
    victim = tmp_path / 'annotations' / 'validation' / 'ADE_val_00000002.png'
    victim.unlink()
    assert make_ade_demo(tmp_path, **TINY)['generated']
    assert victim.is_file()


# --- COCO --------------------------------------------------------------------------------------


def load_coco(root: Path, split: str):
    coco_mod = pytest.importorskip('pycocotools.coco')
    return coco_mod.COCO(str(root / 'annotations' / f'instances_{split}.json'))


@pytest.mark.unit
@pytest.mark.parametrize('split,num', [('train', 12), ('val', 4)])
def test_coco_is_valid(coco_root, split, num):
    coco = load_coco(coco_root, split)
    assert len(coco.getImgIds()) == num
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
    for img in coco.loadImgs(coco.getImgIds()):
        path = coco_root / split / img['file_name']
        assert cv2.imread(str(path)).shape == (img['height'], img['width'], 3)
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) >= num
    assert len({a['id'] for a in anns}) == len(anns)
    for ann in anns:
        img = coco.imgs[ann['image_id']]
        x, y, w, h = ann['bbox']
        assert ann['iscrowd'] == 0 and 1 <= ann['category_id'] <= len(CLASSES)
        assert 0 <= x and 0 <= y and w > 0 and h > 0
        assert x + w <= img['width'] and y + h <= img['height']
        assert all(len(p) >= 6 and len(p) % 2 == 0 for p in ann['segmentation'])
        mask = coco.annToMask(ann)
        assert abs(int(mask.sum()) - ann['area']) <= 0.05 * ann['area'] + 4, ann['id']
        ys, xs = np.nonzero(mask)
        assert xs.min() >= x - 1 and xs.max() <= x + w and ys.min() >= y - 1 and ys.max() <= y + h


@pytest.mark.unit
def test_coco_uses_every_category_with_sensible_sizes(coco_root):
    coco = load_coco(coco_root, 'train')
    anns = coco.loadAnns(coco.getAnnIds())
    assert {a['category_id'] for a in anns} == set(range(1, len(CLASSES) + 1))
    sides = [max(a['bbox'][2:]) for a in anns]
    assert min(sides) >= 10 and max(sides) <= 140


@pytest.mark.unit
def test_coco_annotations_follow_occlusion():
    """Shapes are annotated by their visible pixels: areas never exceed what is left of them."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        _, owner, labels = demo_data.render_scene(rng, 160, 160)
        anns = demo_data._coco_annotations(owner, labels, image_id=1, next_id=1)
        assert 1 <= len(anns) <= len(labels) <= demo_data.MAX_SHAPES
        assert sum(a['area'] for a in anns) <= (owner >= 0).sum()
        visible = [(c, int((owner == k).sum())) for k, c in enumerate(labels)]
        for ann in anns:
            assert any(c == ann['category_id'] - 1 and ann['area'] <= v for c, v in visible)


# --- ADE20K ------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize('folder,prefix,num', [('training', 'ADE_train', 6),
                                               ('validation', 'ADE_val', 3)])
def test_ade_is_valid(ade_root, folder, prefix, num):
    images = sorted((ade_root / 'images' / folder).glob('*.jpg'))
    labels = sorted((ade_root / 'annotations' / folder).glob('*.png'))
    assert [p.stem for p in images] == [p.stem for p in labels]
    assert [p.stem for p in images] == [f'{prefix}_{i:08d}' for i in range(1, num + 1)]
    seen = set()
    for img_path, seg_path in zip(images, labels):
        seg = cv2.imread(str(seg_path), cv2.IMREAD_UNCHANGED)
        assert seg.dtype == np.uint8 and seg.ndim == 2
        assert seg.shape == cv2.imread(str(img_path)).shape[:2]
        values = set(np.unique(seg).tolist())
        assert values <= set(range(len(SEG_CLASSES) + 1))
        assert {0, 1} <= values and len(values) >= 3  # ignore band, background, a shape
        seen |= values
    assert seen == set(range(len(SEG_CLASSES) + 1)) or folder == 'validation'


@pytest.mark.unit
def test_ade_ignore_band_is_thin(ade_root):
    seg = cv2.imread(str(next((ade_root / 'annotations' / 'training').glob('*.png'))),
                     cv2.IMREAD_UNCHANGED)
    assert 0 < (seg == 0).mean() < 0.15
    assert len(SEG_PALETTE) == len(SEG_CLASSES) == len(CLASSES) + 1


# --- tiny sizes, arguments, CLI --------------------------------------------------------------


@pytest.mark.unit
def test_scene_arguments(tmp_path):
    """max_shapes and shape_size shape the scenes, and are part of what makes a dataset."""
    info = make_coco_demo(tmp_path, num_train=30, num_val=1, size=(160, 160), max_shapes=2,
                          shape_size=(0.3, 0.5))
    coco = json.loads(Path(info['train_ann_file']).read_text())
    per_image = np.bincount([a['image_id'] for a in coco['annotations']])
    assert per_image.max() == 2
    sides = np.array([max(a['bbox'][2:]) for a in coco['annotations']])
    # a shape's box side is at most its extent (0.5 * 160) and, at any rotation, at least
    # ~0.6 of it unless occluded
    assert sides.max() <= 0.5 * 160 + 2 and np.median(sides) >= 0.6 * 0.3 * 160
    assert make_coco_demo(tmp_path, num_train=30, num_val=1, size=(160, 160), max_shapes=3,
                          shape_size=(0.3, 0.5))['generated']


@pytest.mark.unit
def test_tiny_sizes(tmp_path):
    coco = make_coco_demo(tmp_path / 'coco', **TINY)
    assert coco['num_train_instances'] > 0 and coco['num_val_instances'] > 0
    img = cv2.imread(str(tmp_path / 'coco' / 'val' / '000002.jpg'))
    assert img.shape == (96, 128, 3)
    make_ade_demo(tmp_path / 'ade', **TINY)
    seg = cv2.imread(str(tmp_path / 'ade' / 'annotations' / 'training' / 'ADE_train_00000004.png'),
                     cv2.IMREAD_UNCHANGED)
    assert seg.shape == (96, 128)


@pytest.mark.unit
@pytest.mark.parametrize('kwargs', [
    dict(num_train=0), dict(num_train=-2), dict(num_train=1.5), dict(num_train=True),
    dict(num_val=0), dict(size=(10, 10)), dict(size=(96, )), dict(size='96x96'),
    dict(size=(96.0, 128)), dict(size=(96, 10000)), dict(seed=-1), dict(seed='0'),
    dict(max_shapes=0), dict(max_shapes=2.0), dict(shape_size=(0.5, 0.2)),
    dict(shape_size=(0, 0.2)), dict(shape_size=(0.2, 0.9)), dict(shape_size=0.3),
])
@pytest.mark.parametrize('make', [make_coco_demo, make_ade_demo, make_cls_demo])
def test_bad_arguments(tmp_path, make, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        make(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())  # checked before anything is written


@pytest.mark.e2e
@pytest.mark.slow
def test_cli_defaults_are_the_demo_presets(tmp_path):
    """Unset options come from DEMO_PRESETS (what configs/demo/ expect), per dataset kind."""
    # the tool's entry point (tools/make_demo_data.py runs it) in-process: its argument parser
    # gives the defaults; test_cli runs the tool itself
    from mmmeta.make_demo_data import main
    assert main(['all', '--out', str(tmp_path), '--num-train', '2', '--num-val', '1']) == 0
    for kind, image in (('coco', 'demo_coco/val/000001.jpg'),
                        ('ade', 'demo_ade/images/validation/ADE_val_00000001.jpg'),
                        ('cls', 'demo_cls/val/000001.jpg')):
        preset = demo_data.DEMO_PRESETS[kind]
        assert cv2.imread(str(tmp_path / image)).shape[:2] == preset['size']
        meta = json.loads((tmp_path / f'demo_{kind}' / demo_data.META_FILE).read_text())
        assert meta['args']['max_shapes'] == preset['max_shapes']
        assert meta['args']['shape_size'] == list(preset['shape_size'])


@pytest.mark.e2e
@pytest.mark.slow
def test_cli(tmp_path, capsys):
    cmd = [sys.executable, str(REPO / 'tools' / 'make_demo_data.py'), 'all', '--out',
           str(tmp_path), '--num-train', '2', '--num-val', '1', '--size', '64', '80']
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert 'coco: wrote' in out and 'ade: wrote' in out and 'cls: wrote' in out
    assert (tmp_path / 'demo_coco' / 'annotations' / 'instances_val.json').is_file()
    assert (tmp_path / 'demo_ade' / 'images' / 'training' / 'ADE_train_00000002.jpg').is_file()
    # the same command again: the tool's entry point (tools/make_demo_data.py runs it) in-process
    from mmmeta.make_demo_data import main
    assert main(cmd[2:]) == 0
    out = capsys.readouterr().out
    assert 'up to date' in out and 'wrote' not in out, out
    bad = subprocess.run(cmd[:2] + ['coco', '--size', '8', '8', '--out', str(tmp_path / 'x')],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode != 0 and 'size must be' in bad.stderr and 'Traceback' not in bad.stderr


@pytest.mark.unit
def test_cls_demo_labels_name_the_visible_shape(tmp_path):
    """Each image of the classification demo holds one shape; its label in meta/*.txt is that
    shape's class (checked against the pixels: the label's rendering is what is in the file),
    every class occurs, and the lists name exactly the written images."""
    info = make_cls_demo(tmp_path, num_train=40, num_val=8, size=(64, 64))
    assert info['generated'] and not make_cls_demo(tmp_path, num_train=40, num_val=8,
                                                   size=(64, 64))['generated']
    for split, num in (('train', 40), ('val', 8)):
        lines = (tmp_path / 'meta' / f'{split}.txt').read_text().split()
        names, labels = lines[0::2], [int(v) for v in lines[1::2]]
        assert names == [f'{i:06d}.jpg' for i in range(1, num + 1)]
        assert all(0 <= v < len(CLASSES) for v in labels)
        for i, (name, label) in enumerate(zip(names, labels), 1):
            img = cv2.imread(str(tmp_path / split / name))
            assert img.shape == (64, 64, 3)
            rng = demo_data._image_rng(0, split, i)
            _, owner, scene = demo_data.render_scene(rng, 64, 64, max_shapes=1,
                                                     shape_size=(0.35, 0.7))
            if scene:  # first draw placed a shape: it is the one labelled
                assert scene == [label] and (owner >= 0).sum() >= 16
    train = [int(v) for v in (tmp_path / 'meta' / 'train.txt').read_text().split()[1::2]]
    assert set(train) == set(range(len(CLASSES)))
