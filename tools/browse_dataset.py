"""Draw a config's dataset, after its pipeline, with the ground truth on top.

Works for mmdet and mmseg configs (chosen by the config's ``default_scope``). Use it to check
that the data, the annotations and the augmentations are what you expect before training.

    python tools/browse_dataset.py configs/demo/CONFIG.py --not-show --output-dir work_dirs/browse
    python tools/browse_dataset.py CONFIG --phase val --max-images 10 \\
        --cfg-options val_dataloader.dataset.data_root=/data/coco/
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np
from mmengine.utils import ProgressBar

import mmmeta  # noqa: F401  (registers the backbones, applies mmmeta.compat)
from mmmeta.cli import CfgOptionsAction, fail, run_tool
from mmmeta.launch import (
    check_dataloaders,
    dataset_not_found,
    init_library,
    library_of,
    library_registry,
    load_config,
)

VISUALIZERS = dict(mmdet='DetLocalVisualizer', mmseg='SegLocalVisualizer')


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
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, e.g. '
                        'train_dataloader.dataset.data_root=data/demo_coco/')
    return parser.parse_args(argv)


def can_show() -> bool:
    """Windows need a display; on a headless Linux box drawing to files is all we can do."""
    return not sys.platform.startswith('linux') or bool(
        os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))


def det_sample(data_sample):
    """mmdet's GT as DetLocalVisualizer draws it: box tensors and boolean mask arrays."""
    from mmdet.models.utils import mask2ndarray
    from mmdet.structures.bbox import BaseBoxes
    data_sample = data_sample.numpy()
    if 'gt_instances' in data_sample:
        gt = data_sample.gt_instances
        if isinstance(gt.get('bboxes', None), BaseBoxes):
            gt.bboxes = gt.bboxes.tensor
        if gt.get('masks', None) is not None:
            gt.masks = mask2ndarray(gt.masks).astype(bool)
        data_sample.gt_instances = gt
    return data_sample


def load_dataset(args: argparse.Namespace):
    """(library, visualizer, dataset) of the phase's dataloader, after checking its paths."""
    cfg = load_config(args.config, args.cfg_options)  # also imports cfg.custom_imports
    lib = library_of(cfg)
    if lib not in VISUALIZERS:
        fail(f'default_scope must be one of {", ".join(VISUALIZERS)} to browse a dataset, '
             f'got {lib!r}.')
    init_library(cfg)
    key = f'{args.phase}_dataloader'
    if not isinstance(cfg.get(key), dict) or cfg[key].get('dataset') is None:
        fail(f'the config has no {key}.dataset; pick another --phase.')
    check_dataloaders(cfg, [key])
    try:
        dataset = library_registry(lib, 'DATASETS').build(cfg[key].dataset)
    except FileNotFoundError as err:
        fail(dataset_not_found(str(err.filename or err), f'{key}.dataset',
                               f'{key}.dataset.data_root=/path/to/data', lib))
    visualizer = library_registry(lib, 'VISUALIZERS').build(
        cfg.get('visualizer') or dict(type=VISUALIZERS[lib]))
    visualizer.dataset_meta = dataset.metainfo
    return lib, visualizer, dataset


def main(argv=None) -> int:
    args = parse_args(argv)
    lib, visualizer, dataset = load_dataset(args)
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
    sys.exit(run_tool(main))
