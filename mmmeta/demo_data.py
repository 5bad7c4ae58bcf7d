"""Deterministic synthetic "shapes" datasets for smoke training, tutorials and tests.

Why: the real COCO / ADE20K datasets are tens of GB and need a download; a demo that runs on a
laptop CPU needs a dataset that is small, byte-for-byte reproducible and learnable in minutes.
Each image is a textured background with 1-5 vivid, clearly different shapes
(circle, square, triangle, star) that may occlude each other.

Three layouts are written from the same kind of scenes:

* :func:`make_coco_demo`: COCO instance segmentation (``mmdet.CocoDataset``)::

      root/train/000001.jpg ...           root/annotations/instances_train.json
      root/val/000001.jpg ...             root/annotations/instances_val.json

* :func:`make_cls_demo`: one shape per image, labelled with its class (mmpretrain
  ``CustomDataset``, the ImageNet layout of annotation lists): the demo's stand-in for ImageNet,
  on which ``configs/demo/cls_poolformer_s12_demo.py`` pretrains the detection demo's backbone::

      root/train/000001.jpg ...           root/meta/train.txt  ("000001.jpg 2" per line)
      root/val/000001.jpg ...             root/meta/val.txt

* :func:`make_ade_demo`: ADE20K-style semantic segmentation (mmseg, ``reduce_zero_label=True``)::

      root/images/training/ADE_train_00000001.jpg   root/annotations/training/ADE_train_00000001.png
      root/images/validation/ADE_val_00000001.jpg   root/annotations/validation/ADE_val_00000001.png

  PNG values: 0 = unlabeled (a thin band along every shape outline, so ``ignore_index`` is
  exercised), 1 = background, 2.. = the shapes; after ``reduce_zero_label`` class ``i`` of
  :data:`SEG_CLASSES` is label value ``i + 1``.

Only numpy and OpenCV are needed (no mmdet/mmseg). Generation is skipped when ``root`` already
holds a complete dataset made with the same arguments (recorded in ``root/.demo_meta.json``).
"""
from __future__ import annotations

import colorsys
import json
import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = [
    'CLASSES', 'PALETTE', 'METAINFO', 'SEG_CLASSES', 'SEG_PALETTE', 'SEG_METAINFO', 'DEMO_PRESETS',
    'make_coco_demo', 'make_ade_demo', 'make_cls_demo', 'render_scene'
]

CLASSES = ('circle', 'square', 'triangle', 'star')
PALETTE = [(220, 20, 60), (0, 110, 230), (250, 170, 30), (60, 180, 75)]
METAINFO = dict(classes=CLASSES, palette=PALETTE)
SEG_CLASSES = ('background', ) + CLASSES
SEG_PALETTE = [(120, 120, 120)] + PALETTE
SEG_METAINFO = dict(classes=SEG_CLASSES, palette=SEG_PALETTE)

# Bump when the images or annotations change, so existing demo folders get regenerated.
GENERATOR_VERSION = 1
META_FILE = '.demo_meta.json'
JPEG_QUALITY = 92
MIN_SIDE, MAX_SIDE = 32, 4096
MIN_VISIBLE = 0.6  # a later shape may hide at most 40 % of an earlier one
MAX_SHAPES = 5
SHAPE_SIZE = (30 / 320, 130 / 320)  # shape extent range, as fractions of the shorter side
PLACEMENT_TRIES = 30

# The datasets the demo configs (configs/demo/) expect; tools/make_demo_data.py and
# tools/demo.py write these. Detection: small images with 1-3 shapes of 32-64 px (RetinaNet's
# stride-8 and stride-16 anchors), so that a detector on 2 CPU cores sees many images in a few
# minutes. Classification (the demo backbone's pretraining): 64x64 images with one shape of
# 22-45 px. Segmentation: 320x320 images with up to 5 shapes of 30-130 px.
DEMO_PRESETS = dict(
    coco=dict(num_train=1000, num_val=50, size=(128, 128), max_shapes=3,
              shape_size=(0.25, 0.5)),
    cls=dict(num_train=20000, num_val=1000, size=(64, 64), max_shapes=1,
             shape_size=(0.35, 0.7)),
    ade=dict(num_train=120, num_val=30, size=(320, 320), max_shapes=MAX_SHAPES,
             shape_size=SHAPE_SIZE))

PathLike = Union[str, os.PathLike]
Size = Tuple[int, int]


def _preset(kind: str, num_train: Optional[int], num_val: Optional[int],
            size: Optional[Sequence[int]], max_shapes: Optional[int],
            shape_size: Optional[Sequence[float]]) -> tuple:
    """The maker arguments, those left at None taken from ``DEMO_PRESETS[kind]``."""
    given = dict(num_train=num_train, num_val=num_val, size=size, max_shapes=max_shapes,
                 shape_size=shape_size)
    return tuple(DEMO_PRESETS[kind][k] if v is None else v for k, v in given.items())

# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32) * 255


def _background_colors(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Two muted colours of moderately different brightness: textured, but never as loud
    as the shapes, so that the shapes stay easy to find."""
    h, s, v = rng.uniform(0, 1), rng.uniform(0, 0.5), rng.uniform(0.2, 0.85)
    v2 = float(np.clip(v + rng.choice([-1, 1]) * rng.uniform(0.08, 0.3), 0.1, 0.95))
    return _hsv(h, s, v), _hsv(h + rng.uniform(-0.15, 0.15), rng.uniform(0, 0.5), v2)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A float32 RGB background: gradient, stripes, checkerboard or smooth noise, plus grain."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    proj = xx * np.cos(theta) + yy * np.sin(theta)
    scale = min(h, w) / 320
    kind = int(rng.integers(4))
    if kind == 0:  # linear gradient
        t = (proj - proj.min()) / max(float(np.ptp(proj)), 1.0)
    elif kind == 1:  # soft stripes
        period = rng.uniform(10, 40) * max(scale, 0.4)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * proj / period)
    elif kind == 2:  # (rotated) checkerboard: small, low-contrast cells, not mistaken for squares
        cell = rng.uniform(6, 20) * max(scale, 0.4)
        ortho = -xx * np.sin(theta) + yy * np.cos(theta)
        t = 0.25 + 0.5 * ((np.floor(proj / cell) + np.floor(ortho / cell)) % 2)
    else:  # smooth blobs: a coarse random grid upsampled
        grid = rng.uniform(0, 1, (int(rng.integers(2, 6)), int(rng.integers(2, 6))))
        t = np.clip(cv2.resize(grid.astype(np.float32), (w, h),
                               interpolation=cv2.INTER_CUBIC), 0, 1)
    c1, c2 = _background_colors(rng)
    img = c1 + t[..., None] * (c2 - c1)
    return img + rng.normal(0, rng.uniform(3, 12), (h, w, 1)).astype(np.float32)


def _size_range(h: int, w: int,
                shape_size: Tuple[float, float] = SHAPE_SIZE) -> Tuple[float, float]:
    """Shape extent in px (30-130 at 320 px by default), floored at 14 px so tiny test images
    stay usable, and capped at 70 % of the shorter side so a shape always fits."""
    side = min(h, w)
    lo = max(14.0, shape_size[0] * side)
    hi = min(max(lo + 6, shape_size[1] * side), 0.7 * side)
    return lo, max(hi, lo)


def _shape_polygon(label: int, center: np.ndarray, extent: float, angle: float) -> np.ndarray:
    """Vertices (N, 2) of a shape whose circumscribed circle has diameter ``extent``."""
    name = CLASSES[label]
    if name == 'circle':
        r = np.full(64, 0.42 * extent)
        a = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    elif name == 'square':
        r = np.full(4, 0.5 * extent)
        a = np.arange(4) * np.pi / 2 + np.pi / 4
    elif name == 'triangle':
        r = np.full(3, 0.5 * extent)
        a = np.arange(3) * 2 * np.pi / 3 - np.pi / 2
    else:  # five-pointed star, fairly fat so it survives small sizes
        r = np.tile([0.5 * extent, 0.23 * extent], 5)
        a = np.arange(10) * np.pi / 5 - np.pi / 2
    a = a + angle
    return center + np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def _rasterize(poly: np.ndarray, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    pts = np.round(poly * 16).astype(np.int32)[None]  # 4 bits of sub-pixel precision
    cv2.fillPoly(mask, pts, 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _has_holes(mask: np.ndarray) -> bool:
    _, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP,
                                    cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0][:, 3] >= 0).any())


def _placement_ok(owner: np.ndarray, mask: np.ndarray, full_areas: List[int]) -> bool:
    """A new shape may cover part of earlier ones, but must leave each of them mostly visible
    and without holes (COCO polygons cannot express holes)."""
    for j in np.unique(owner[mask]):
        if j < 0:
            continue
        visible = (owner == j) & ~mask
        if visible.sum() < MIN_VISIBLE * full_areas[j] or _has_holes(visible):
            return False
    return True


def _pick_color(rng: np.random.Generator, canvas: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A vivid colour that differs from (nearly) every pixel it will cover."""
    under = canvas[mask]
    best, best_score = None, -1.0
    for _ in range(12):
        color = _hsv(rng.uniform(0, 1), rng.uniform(0.6, 1.0), rng.uniform(0.55, 1.0))
        score = float(np.percentile(np.linalg.norm(under - color, axis=1), 10))
        if score > best_score:
            best, best_score = color, score
        if score >= 110:
            break
    return best


def _paint(rng: np.random.Generator, canvas: np.ndarray, mask: np.ndarray, color: np.ndarray,
           center: np.ndarray, extent: float) -> None:
    """Fill ``mask`` with ``color`` and a mild linear shading, for a less synthetic look."""
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    g = ((xx - center[0]) * np.cos(theta) + (yy - center[1]) * np.sin(theta)) / (extent / 2)
    shade = 1 + rng.uniform(0.05, 0.2) * np.clip(g, -1, 1)
    canvas[mask] = color * shade[mask][:, None]


def render_scene(rng: np.random.Generator, height: int, width: int,
                 max_shapes: int = MAX_SHAPES,
                 shape_size: Tuple[float, float] = SHAPE_SIZE
                 ) -> Tuple[np.ndarray, np.ndarray, List[int]]:
    """Render one image with 1 to ``max_shapes`` shapes whose extent is drawn from
    ``shape_size`` (fractions of the shorter side).

    Returns ``(image, owner, labels)``: an RGB uint8 image, an int16 map holding for every
    pixel the index of the shape that is visible there (-1 = background), and the 0-based
    class index of each shape.
    """
    canvas = _background(rng, height, width)
    owner = np.full((height, width), -1, np.int16)
    labels: List[int] = []
    full_areas: List[int] = []
    lo, hi = _size_range(height, width, shape_size)
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        label = int(rng.integers(len(CLASSES)))
        for _try in range(PLACEMENT_TRIES):
            extent = rng.uniform(lo, hi)
            margin = extent / 2 + 1
            center = np.array([rng.uniform(margin, width - margin - 1),
                               rng.uniform(margin, height - margin - 1)])
            angle = rng.uniform(0, 2 * np.pi)
            mask = _rasterize(_shape_polygon(label, center, extent, angle), height, width)
            if mask.sum() >= 16 and _placement_ok(owner, mask, full_areas):
                break
        else:
            continue  # no room for this shape
        _paint(rng, canvas, mask, _pick_color(rng, canvas, mask), center, extent)
        owner[mask] = len(labels)
        labels.append(label)
        full_areas.append(int(mask.sum()))
    canvas += rng.normal(0, rng.uniform(1.5, 5), canvas.shape).astype(np.float32)
    image = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    return image, owner, labels


def _image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """One independent stream per image: image i of a split does not depend on the counts."""
    return np.random.default_rng([seed, 0 if split == 'train' else 1, index])


# ---------------------------------------------------------------------------------------------
# Annotations
# ---------------------------------------------------------------------------------------------


def _clean_mask(mask: np.ndarray) -> np.ndarray:
    """Drop specks left by occlusion: they would only become degenerate polygons."""
    n, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    if n <= 1:
        return mask
    keep = np.flatnonzero(areas >= max(8, 0.03 * areas.sum())) + 1
    return np.isin(comp, keep)


def _polygons(mask: np.ndarray) -> List[List[float]]:
    """Outer contours of ``mask`` as COCO polygons.

    OpenCV traces the centres of the boundary pixels (pixel i at i), while COCO coordinates
    put pixel i's corners at i and i + 1. Moving every vertex to its pixel's outer corner
    makes the polygon cover whole pixels, so that rasterising it (pycocotools) gives back
    nearly the same pixels as the mask; otherwise a half-pixel band of the outline is lost.
    """
    padded = np.pad(mask.astype(np.uint8), 1)
    contours, _ = cv2.findContours(padded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        pts = c.reshape(-1, 2).astype(np.float64) - 1  # undo the padding
        if len(pts) < 3:
            continue
        poly = _grow_half_pixel(pts, mask)
        polys.append([round(float(v), 2) for v in poly.reshape(-1)])
    return polys


def _grow_half_pixel(pts: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pixel-centre vertices -> the outer corner of their pixel, in COCO coordinates."""
    h, w = mask.shape
    out = pts + 0.5  # pixel centres in COCO coordinates
    for k, (x, y) in enumerate(pts.astype(int)):
        for axis, (dx, dy) in enumerate(((1, 0), (0, 1))):
            before = 0 <= x - dx < w and 0 <= y - dy < h and mask[y - dy, x - dx]
            after = 0 <= x + dx < w and 0 <= y + dy < h and mask[y + dy, x + dx]
            if before and not after:
                out[k, axis] += 0.5
            elif after and not before:
                out[k, axis] -= 0.5
            elif not before and not after:  # one pixel thick here: which way is arbitrary
                out[k, axis] += 0.5 if pts[k, axis] >= pts[:, axis].mean() else -0.5
    out[:, 0] = np.clip(out[:, 0], 0, w)
    out[:, 1] = np.clip(out[:, 1], 0, h)
    return out


def _coco_annotations(owner: np.ndarray, labels: Sequence[int], image_id: int,
                      next_id: int) -> List[dict]:
    anns = []
    for k, label in enumerate(labels):
        full = owner == k
        mask = _clean_mask(full)
        area = int(mask.sum())
        polys = _polygons(mask) if area >= 16 else []
        if not polys:
            continue  # mostly hidden: nothing sensible to annotate
        ys, xs = np.nonzero(mask)
        x0, y0 = int(xs.min()), int(ys.min())
        bbox = [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1]
        anns.append(dict(id=next_id + len(anns), image_id=image_id, category_id=label + 1,
                         bbox=[float(v) for v in bbox], area=float(area), iscrowd=0,
                         segmentation=polys))
    return anns


def _ade_label(owner: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """uint8 label map: 1 = background, 2.. = shapes, 0 (ignored) on a 2 px band along every
    boundary between different labels."""
    lut = np.array([1] + [c + 2 for c in labels], np.uint8)
    seg = lut[owner.astype(np.int64) + 1]
    kernel = np.ones((3, 3), np.uint8)
    edge = cv2.dilate(seg, kernel) != cv2.erode(seg, kernel)
    seg[edge] = 0
    return seg


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def _write_jpg(path: Path, rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode('.jpg', np.ascontiguousarray(rgb[..., ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    assert ok, path
    path.write_bytes(buf.tobytes())


def _write_png(path: Path, label: np.ndarray) -> None:
    ok, buf = cv2.imencode('.png', label, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    assert ok, path
    path.write_bytes(buf.tobytes())


def _check_args(num_train: int, num_val: int, size: Sequence[int], seed: int,
                max_shapes: int, shape_size: Sequence[float]) -> Tuple[Size, dict]:
    """Validate the arguments; returns (height, width) and the scene keywords."""
    for name, value in (('num_train', num_train), ('num_val', num_val),
                        ('max_shapes', max_shapes)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f'{name} must be a positive integer, got {value!r}')
    if (isinstance(size, (str, bytes)) or not isinstance(size, Sequence) or len(size) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in size)
            or not all(MIN_SIDE <= v <= MAX_SIDE for v in size)):
        raise ValueError(f'size must be (height, width), two integers in [{MIN_SIDE}, '
                         f'{MAX_SIDE}], got {size!r}')
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
    if (isinstance(shape_size, (str, bytes)) or not isinstance(shape_size, Sequence)
            or len(shape_size) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in shape_size)
            or not 0 < shape_size[0] <= shape_size[1] <= 0.7):
        raise ValueError('shape_size must be (min, max) shape extents as fractions of the '
                         f'shorter image side, 0 < min <= max <= 0.7, got {shape_size!r}')
    scene = dict(max_shapes=int(max_shapes),
                 shape_size=(float(shape_size[0]), float(shape_size[1])))
    return (int(size[0]), int(size[1])), scene


def _meta_args(kind: str, num_train: int, num_val: int, size: Size, seed: int,
               scene: dict) -> dict:
    return dict(kind=kind, version=GENERATOR_VERSION, num_train=int(num_train),
                num_val=int(num_val), size=list(size), seed=int(seed),
                max_shapes=scene['max_shapes'], shape_size=list(scene['shape_size']))


def _read_meta(root: Path, args: dict, files: Sequence[Path]) -> Union[dict, None]:
    """The stored stats if ``root`` is complete and was made with ``args``, else None."""
    try:
        meta = json.loads((root / META_FILE).read_text())
    except (OSError, ValueError):
        return None
    if meta.get('args') != args or not all(f.is_file() for f in files):
        return None
    return meta.get('stats', {})


def _write_meta(root: Path, args: dict, stats: dict) -> None:
    # Written last: an interrupted run leaves no meta and is redone next time.
    (root / META_FILE).write_text(json.dumps(dict(args=args, stats=stats), indent=2) + '\n')


def _reuse_or_write(root: Path, args: dict, files: Sequence[Path], force: bool,
                    write: Callable[[], dict]) -> Tuple[bool, dict]:
    """The one caching rule of every demo dataset: reuse ``root`` when it is complete and was
    made with ``args``, else call ``write`` (which returns the stats to record). Returns
    ``(generated, stats)``."""
    stats = None if force else _read_meta(root, args, files)
    if stats is not None:
        return False, stats
    root.mkdir(parents=True, exist_ok=True)
    (root / META_FILE).unlink(missing_ok=True)
    stats = write()
    _write_meta(root, args, stats)
    return True, stats


def _write_splits(split_fn: Callable[..., Union[int, None]], root: Path, counts: Dict[str, int],
                  size: Size, seed: int, scene: dict) -> dict:
    """Write every split with ``split_fn``; the instance counts it returns become the stats."""
    stats = {}
    for split, num in counts.items():
        instances = split_fn(root, split, num, size, seed, scene)
        if instances is not None:
            stats[f'{split}_instances'] = instances
    return stats


def _make(kind: str, root: PathLike, split_fn: Callable[..., Union[int, None]],
          files_of: Callable[[Path, Dict[str, int]], List[Path]], num_train, num_val, size,
          seed: int, force: bool, max_shapes, shape_size) -> Tuple[Path, List[Path], dict, dict]:
    """The steps every maker shares: presets, argument checks, the caching rule, the splits.
    Returns (root, the files the dataset consists of, the common result fields, stats)."""
    num_train, num_val, size, max_shapes, shape_size = _preset(
        kind, num_train, num_val, size, max_shapes, shape_size)
    hw, scene = _check_args(num_train, num_val, size, seed, max_shapes, shape_size)
    root = Path(root)
    counts = dict(train=num_train, val=num_val)
    files = files_of(root, counts)
    generated, stats = _reuse_or_write(
        root, _meta_args(kind, num_train, num_val, hw, seed, scene), files, force,
        lambda: _write_splits(split_fn, root, counts, hw, seed, scene))
    info = dict(kind=kind, root=str(root), generated=generated, num_train=num_train,
                num_val=num_val)
    return root, files, info, stats


def _numbered(root: Path, counts: Dict[str, int]) -> List[Path]:
    """``{split}/000001.jpg ...``: the image files of the COCO and classification layouts."""
    return [root / s / f'{i:06d}.jpg' for s, n in counts.items() for i in range(1, n + 1)]


def _clear(folder: Path, pattern: str) -> None:
    """Remove files a previous run left (e.g. with a larger num_train)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in folder.glob(pattern):
        f.unlink()


def _coco_split(root: Path, split: str, num: int, size: Size, seed: int, scene: dict) -> int:
    img_dir = root / split
    _clear(img_dir, '[0-9]' * 6 + '.jpg')
    images, anns = [], []
    for i in range(1, num + 1):
        image, owner, labels = render_scene(_image_rng(seed, split, i), *size, **scene)
        name = f'{i:06d}.jpg'
        _write_jpg(img_dir / name, image)
        images.append(dict(id=i, file_name=name, height=size[0], width=size[1]))
        anns += _coco_annotations(owner, labels, i, len(anns) + 1)
    coco = dict(
        info=dict(description='mmmeta synthetic shapes demo', version=str(GENERATOR_VERSION)),
        licenses=[], images=images, annotations=anns,
        categories=[dict(id=i + 1, name=n, supercategory='shape')
                    for i, n in enumerate(CLASSES)])
    ann_file = root / 'annotations' / f'instances_{split}.json'
    ann_file.parent.mkdir(parents=True, exist_ok=True)
    ann_file.write_text(json.dumps(coco, separators=(',', ':')))
    return len(anns)


def make_coco_demo(root: PathLike, num_train: Optional[int] = None,
                  num_val: Optional[int] = None, size: Optional[Sequence[int]] = None,
                  seed: int = 0, force: bool = False, max_shapes: Optional[int] = None,
                  shape_size: Optional[Sequence[float]] = None) -> Dict[str, object]:
    """Write (or reuse) the COCO-format instance segmentation demo under ``root``.

    ``size`` is (height, width); each image holds 1 to ``max_shapes`` shapes whose extent
    (circumscribed circle) is drawn from ``shape_size``, fractions of the shorter side.
    Arguments left at None take the value of ``DEMO_PRESETS['coco']`` (the dataset the demo
    configs read), as for every maker here.
    Returns the paths (for a config's ``data_root``, ``ann_file`` and ``data_prefix``) and
    the image/instance counts; ``generated`` says whether files were written or an identical
    dataset was reused.
    """
    root, files, info, stats = _make(
        'coco', root, _coco_split,
        lambda root, counts: [root / 'annotations' / f'instances_{s}.json' for s in counts]
        + _numbered(root, counts), num_train, num_val, size, seed, force, max_shapes, shape_size)
    return dict(info, train_img_dir=str(root / 'train'), val_img_dir=str(root / 'val'),
                train_ann_file=str(files[0]), val_ann_file=str(files[1]),
                num_train_instances=stats.get('train_instances'),
                num_val_instances=stats.get('val_instances'))


ADE_SPLITS = dict(train=('training', 'ADE_train'), val=('validation', 'ADE_val'))


def _ade_split(root: Path, split: str, num: int, size: Size, seed: int, scene: dict) -> None:
    folder, prefix = ADE_SPLITS[split]
    img_dir, ann_dir = root / 'images' / folder, root / 'annotations' / folder
    _clear(img_dir, f'{prefix}_*.jpg')
    _clear(ann_dir, f'{prefix}_*.png')
    for i in range(1, num + 1):
        image, owner, labels = render_scene(_image_rng(seed, split, i), *size, **scene)
        stem = f'{prefix}_{i:08d}'
        _write_jpg(img_dir / f'{stem}.jpg', image)
        _write_png(ann_dir / f'{stem}.png', _ade_label(owner, labels))


def make_ade_demo(root: PathLike, num_train: Optional[int] = None,
                 num_val: Optional[int] = None, size: Optional[Sequence[int]] = None,
                 seed: int = 0, force: bool = False, max_shapes: Optional[int] = None,
                 shape_size: Optional[Sequence[float]] = None) -> Dict[str, object]:
    """Write (or reuse) the ADE20K-layout semantic segmentation demo under ``root``.

    Use with ``reduce_zero_label=True`` and ``metainfo=SEG_METAINFO``; ``size``,
    ``max_shapes`` and ``shape_size`` as in :func:`make_coco_demo`. Returns the image and
    annotation folders, the counts and ``generated`` (False when an identical dataset was
    reused).
    """
    def files_of(root: Path, counts: Dict[str, int]) -> List[Path]:
        files = []
        for s, n in counts.items():
            folder, prefix = ADE_SPLITS[s]
            for i in range(1, n + 1):
                files.append(root / 'images' / folder / f'{prefix}_{i:08d}.jpg')
                files.append(root / 'annotations' / folder / f'{prefix}_{i:08d}.png')
        return files

    root, _, info, _ = _make('ade', root, _ade_split, files_of, num_train, num_val, size, seed,
                             force, max_shapes, shape_size)
    return dict(info, train_img_dir=str(root / 'images' / 'training'),
                val_img_dir=str(root / 'images' / 'validation'),
                train_ann_dir=str(root / 'annotations' / 'training'),
                val_ann_dir=str(root / 'annotations' / 'validation'))


def _cls_split(root: Path, split: str, num: int, size: Size, seed: int, scene: dict) -> None:
    img_dir = root / split
    _clear(img_dir, '[0-9]' * 6 + '.jpg')
    lines = []
    for i in range(1, num + 1):
        rng = _image_rng(seed, split, i)
        labels: List[int] = []
        while not labels:  # a shape too small to rasterise is drawn again (same stream)
            image, owner, labels = render_scene(rng, *size, **scene)
        name = f'{i:06d}.jpg'
        _write_jpg(img_dir / name, image)
        # the label of the shape that shows most (scenes with max_shapes > 1)
        counts = np.bincount(owner[owner >= 0].ravel(), minlength=len(labels))
        lines.append(f'{name} {labels[int(counts.argmax())]}')
    (root / 'meta').mkdir(parents=True, exist_ok=True)
    (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')


def make_cls_demo(root: PathLike, num_train: Optional[int] = None,
                 num_val: Optional[int] = None, size: Optional[Sequence[int]] = None,
                 seed: int = 0, force: bool = False, max_shapes: Optional[int] = None,
                 shape_size: Optional[Sequence[float]] = None) -> Dict[str, object]:
    """Write (or reuse) the image classification demo under ``root``: shapes classification,
    the stand-in for ImageNet on which the demos pretrain a backbone.

    Same scenes as :func:`make_coco_demo` (one shape in the preset); an image's label is the
    class of its most visible shape. Layout of mmpretrain's ImageNet: ``train/``, ``val/`` and
    the annotation lists ``meta/{train,val}.txt`` (``file label``, labels index
    :data:`CLASSES`).
    """
    root, files, info, _ = _make(
        'cls', root, _cls_split,
        lambda root, counts: [root / 'meta' / f'{s}.txt' for s in counts]
        + _numbered(root, counts), num_train, num_val, size, seed, force, max_shapes, shape_size)
    return dict(info, train_img_dir=str(root / 'train'), val_img_dir=str(root / 'val'),
                train_ann_file=str(files[0]), val_ann_file=str(files[1]))


# Each kind's writer and the folder the demo configs read it from (relative to the repository).
MAKERS: Dict[str, Callable[..., Dict[str, object]]] = dict(
    coco=make_coco_demo, ade=make_ade_demo, cls=make_cls_demo)
DEFAULT_ROOTS = dict(coco=os.path.join('data', 'demo_coco'), ade=os.path.join('data', 'demo_ade'),
                     cls=os.path.join('data', 'demo_cls'))
