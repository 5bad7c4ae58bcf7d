"""Draw a config's dataset, after its pipeline, with the ground truth on top.

Works for mmdet and mmseg configs (chosen by the config's ``default_scope``). Use it to check
that the data, the annotations and the augmentations are what you expect before training.

    python tools/browse_dataset.py configs/demo/CONFIG.py --not-show --output-dir work_dirs/browse
    python tools/browse_dataset.py CONFIG --phase val --max-images 10 \\
        --cfg-options val_dataloader.dataset.data_root=/data/coco/
"""
import argparse
import importlib
import os
import os.path as osp
import sys
from typing import Iterator, List, Optional, Tuple

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # use this checkout's mmmeta, installed or not

from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402

LIBRARIES = dict(mmdet=('DetLocalVisualizer', 'coco'), mmseg=('SegLocalVisualizer', 'ade'))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='mmdet or mmseg config file')
    parser.add_argument('--output-dir', help='save the drawings here')
    parser.add_argument('--not-show', action='store_true', help='do not open a window')
    parser.add_argument('--show-interval', type=float, default=2,
                        help='seconds each image is shown')
    parser.add_argument('--max-images', type=int, default=None,
                        help='draw at most this many samples (default: all)')
    parser.add_argument('--phase', default='train', choices=['train', 'val', 'test'],
                        help="whose dataloader's dataset to draw")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. '
                        'train_dataloader.dataset.data_root=data/demo_coco/')
    return parser.parse_args(argv)


def load_config(path: str, options: Optional[dict]) -> Config:
    if not osp.isfile(path):
        raise SystemExit(f'error: config file not found: {path}\n'
                         '  Pass the path of an existing config, e.g. one under configs/.')
    cfg = Config.fromfile(path)  # also imports cfg.custom_imports (mmmeta)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def library(cfg: Config) -> str:
    scope = cfg.get('default_scope')
    if scope not in LIBRARIES:
        raise SystemExit(f"error: default_scope must be one of {', '.join(LIBRARIES)} "
                         f'to browse a dataset, got {scope!r}')
    return scope


def leaf_datasets(ds_cfg: ConfigDict, key: str) -> Iterator[Tuple[ConfigDict, str]]:
    """The datasets that read files, looking through wrappers (Repeat/ClassBalanced/Concat)."""
    if ds_cfg.get('datasets') is not None:
        for i, sub in enumerate(ds_cfg.datasets):
            yield from leaf_datasets(sub, f'{key}.datasets.{i}')
    elif ds_cfg.get('dataset') is not None:
        yield from leaf_datasets(ds_cfg.dataset, f'{key}.dataset')
    else:
        yield ds_cfg, key


def missing_path(ds_cfg: ConfigDict) -> Optional[str]:
    """The first of data_root, ann_file and the data_prefix folders that does not exist."""
    root = ds_cfg.get('data_root') or ''
    paths: List[str] = [root] if root else []
    if ds_cfg.get('ann_file'):
        paths.append(osp.join(root, ds_cfg.ann_file))
    for value in (ds_cfg.get('data_prefix') or {}).values():
        if isinstance(value, str) and value:
            paths.append(osp.join(root, value))
    for path in paths:
        if '://' not in path and not osp.exists(path):
            return path
    return None


def missing_data_message(path: str, key: str, lib: str) -> str:
    kind = LIBRARIES[lib][1]
    return (f'error: dataset path not found: {path}\n'
            f'  For the demo configs, create the data:  python tools/make_demo_data.py {kind}'
            f'  (writes data/demo_{kind}/)\n'
            f'  or point the config at your data:  --cfg-options {key}.data_root=/path/to/data/')


def check_data(cfg: Config, phase: str, lib: str) -> ConfigDict:
    key = f'{phase}_dataloader'
    if cfg.get(key) is None or cfg[key].get('dataset') is None:
        raise SystemExit(f'error: the config has no {key}.dataset')
    for leaf, leaf_key in leaf_datasets(cfg[key].dataset, f'{key}.dataset'):
        path = missing_path(leaf)
        if path is not None:
            raise SystemExit(missing_data_message(path, leaf_key, lib))
    return cfg[key].dataset


def can_show() -> bool:
    """Windows need a display; on a headless Linux box drawing to files is all we can do."""
    return not sys.platform.startswith('linux') or bool(
        os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))


def det_sample(data_sample):
    """mmdet's GT as DetLocalVisualizer draws it: box tensors and boolean mask arrays."""
    from mmdet.structures.bbox import BaseBoxes
    from mmdet.models.utils import mask2ndarray
    data_sample = data_sample.numpy()
    if 'gt_instances' in data_sample:
        gt = data_sample.gt_instances
        if isinstance(gt.get('bboxes', None), BaseBoxes):
            gt.bboxes = gt.bboxes.tensor
        if gt.get('masks', None) is not None:
            gt.masks = mask2ndarray(gt.masks).astype(bool)
        data_sample.gt_instances = gt
    return data_sample


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    lib = library(cfg)
    init_default_scope(lib)
    import mmmeta  # noqa: F401  (registers the backbones, like custom_imports does)
    registry = importlib.import_module(f'{lib}.registry')

    ds_cfg = check_data(cfg, args.phase, lib)
    try:
        dataset = registry.DATASETS.build(ds_cfg)
    except FileNotFoundError as err:
        raise SystemExit(missing_data_message(str(err.filename or err), f'{args.phase}_dataloader'
                                              '.dataset', lib))
    vis_cfg = cfg.get('visualizer') or dict(type=LIBRARIES[lib][0])
    visualizer = registry.VISUALIZERS.build(vis_cfg)
    visualizer.dataset_meta = dataset.metainfo

    show = not args.not_show and can_show()
    if not args.not_show and not show:
        print('no display found: not showing windows (pass --not-show to silence this)')
    output_dir = args.output_dir
    if output_dir is None and not show:
        output_dir = osp.join('work_dirs', 'browse_dataset',
                              osp.splitext(osp.basename(args.config))[0])
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)

    total = len(dataset) if args.max_images is None else min(len(dataset), args.max_images)
    progress = ProgressBar(total)
    for i in range(total):
        item = dataset[i]
        img = np.ascontiguousarray(item['inputs'].permute(1, 2, 0).numpy()[..., ::-1])  # BGR->RGB
        sample = item['data_samples']
        sample = det_sample(sample) if lib == 'mmdet' else sample.numpy()
        name = osp.basename(sample.get('img_path', None) or f'{i:06d}.jpg')
        out_file = osp.join(output_dir, f'{args.phase}_{name}') if output_dir else None
        visualizer.add_datasample(name, img, sample, draw_pred=False, show=show,
                                  wait_time=args.show_interval, out_file=out_file)
        progress.update()
    if output_dir:
        print(f'\n{total} drawings in {output_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
