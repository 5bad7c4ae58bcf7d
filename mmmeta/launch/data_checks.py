"""Dataset checks: every path a run's dataloaders and evaluators read exists, listed images are
there and COCO annotation files are COCO, with one sentence naming the key and the fix.

Also the stand-alone check of ``tools/misc/verify_dataset.py`` (:mod:`.verify`).
"""
import json
import mmap
import os
import os.path as osp
from typing import Any, List, Optional, Sequence, Tuple

from mmengine.config import Config

from ..cli import fail
from ..make_demo_data import demo_data_hint
from .configs import is_remote, iter_dataset_cfgs, iter_metric_cfgs

# COCO files above this size are checked with a byte scan instead of a full JSON parse, so a
# 450 MB instances_train2017.json is not parsed twice.
FULL_JSON_CHECK_MAX_BYTES = 64 * 1024 * 1024
COCO_KEYS = ('images', 'annotations', 'categories')


def _demo_hint(scope: Optional[str], extra: str = '') -> str:
    """The command that makes the library's demo dataset (the demo code's own knowledge)."""
    return demo_data_hint(scope, extra)


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
    return [(f, p) for f, p in paths if not is_remote(p)]


def _uses_local_storage(node: dict) -> bool:
    backend_args = node.get('backend_args', None) or {}
    return backend_args.get('backend', 'local') == 'local'


def check_datasets(cfg: Config, phase: str) -> List[str]:
    """Fail clearly on missing dataset paths or malformed COCO files, before the Runner.

    Only the dataloaders and evaluators that ``phase`` ('train' or 'test') uses are checked.
    Returns the paths checked.
    """
    format_only = phase == 'test' and _format_only(cfg.get('test_evaluator', None))
    return check_dataloaders(cfg, _dataloaders_for(cfg, phase), _evaluators_for(cfg, phase),
                             need_annotations=not format_only)


def check_dataloaders(cfg: Config, loader_keys: Sequence[str], eval_keys: Sequence[str] = (),
                      need_annotations: bool = True) -> List[str]:
    """:func:`check_datasets` for the dataloaders and evaluators named; the paths checked."""
    scope = cfg.get('default_scope', None)
    checker = _PathChecker(scope, need_annotations)
    for loader_key in loader_keys:
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
    for eval_key in eval_keys:
        for key, metric in iter_metric_cfgs(cfg.get(eval_key, None), eval_key):
            ann_file = metric.get('ann_file', None)
            if isinstance(ann_file, str) and ann_file and not is_remote(ann_file) \
                    and _uses_local_storage(metric):
                checker.check(ann_file, f'{key}.ann_file',
                              f'{key}.ann_file=/path/to/annotations.json')
    return sorted(checker.seen)


def dataset_not_found(path: str, key: str, option: str, scope: Optional[str],
                      note: str = '') -> str:
    """The message for a dataset path that is not there. ``key``: the config key the path comes
    from; ``option``: the --cfg-options fix."""
    return (f'dataset path not found: {path!r} (from {key}{note}; current directory: '
            f'{os.getcwd()}). Put the dataset there, point the config at it with '
            f'`--cfg-options {option}` (likewise for the other dataloaders/evaluators), '
            f'or create a small demo dataset with {_demo_hint(scope)}.')


class _PathChecker:
    """Existence (and, for mmdet .json annotation files, COCO format) of each path, once."""

    def __init__(self, scope: Optional[str], need_annotations: bool):
        self.scope, self.need_annotations = scope, need_annotations
        self.seen = set()

    def check(self, path: str, key: str, option: str, note: str = '') -> None:
        """``key``: the config key the path comes from; ``option``: the --cfg-options fix."""
        if path in self.seen:
            return
        self.seen.add(path)
        if not osp.exists(path):
            fail(dataset_not_found(path, key, option, self.scope, note))
        if self.scope == 'mmdet' and key.endswith('ann_file') and path.endswith('.json'):
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
                 f'right file or recreate it (demo data: {_demo_hint("mmdet", " --force")}).')
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
                 f'data_root/data_prefix at the dataset (demo data: {_demo_hint("mmseg")}).')
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
                 f'recreate it (demo data: {_demo_hint("mmpretrain", " --force")}).')
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
             f'(for the demo data: {_demo_hint("mmdet", " --force")}) or fix the path.')


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

