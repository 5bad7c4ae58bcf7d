#!/usr/bin/env python
"""The README's main command: RetinaNet-PoolFormer-S12 on the bundled synthetic shapes data.

1. generates the demo dataset the config needs (COCO for mmdet, ADE20K layout for mmseg,
   classification for mmpretrain) if it is not there yet,
2. trains the config with ``tools/train.py``'s logic, starting from the demo backbone the
   config names (``checkpoints/demo/``, shipped with the repo: a PoolFormer-S12 pretrained on
   shapes classification, the demo's stand-in for ImageNet),
3. evaluates the last checkpoint with ``tools/test.py``'s logic (the real metric) and writes
   pictures of ground truth and predictions (``--show-dir``),
4. runs the inference tool (:mod:`mmmeta.infer`) on a few validation images,
5. prints the wall time, the metric (box/mask mAP, mIoU or top-1) and where everything went.

When the demo backbone file is missing, or with ``--pretrain``, it is made first (about 20
minutes on 2 CPU cores): the shapes classification data, mmpretrain training of
``configs/demo/cls_poolformer_s12_demo.py`` and a float16 conversion.

Everything runs on CPU unless a GPU is present, in this one process, from the repository root
(relative paths are read from there). ``--config`` picks another demo config
(``configs/demo/{retinanet,mask_rcnn,fpn,cls}_poolformer_s12_demo.py``); ``--data DIR`` puts
the generated data in DIR and points the config at it; ``--cfg-options`` goes to training
and testing (inference reads the config as trained, from the work directory).
"""
import argparse
import contextlib
import glob
import os
import os.path as osp
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

CLS_CONFIG = 'configs/demo/cls_poolformer_s12_demo.py'
INFER_IMAGES = 4  # validation images the inference tool is shown on


@contextlib.contextmanager
def in_repo() -> Iterator[None]:
    """Run from the repository root (configs, checkpoints/demo, data/ are relative to it)."""
    before = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


def command(tool: str, argv: Sequence[str]) -> None:
    print('+ python', f'tools/{tool}.py', ' '.join(map(str, argv)), flush=True)


def fresh_visualizers() -> None:
    """Forget the visualizers of earlier runs in this process: mmengine hands a new Runner the
    instance an earlier run made under the same name (with that run's save_dir), and paints
    with the one made last (an inferencer's, after inference)."""
    from mmengine.visualization import Visualizer
    classes = [Visualizer]
    while classes:
        cls = classes.pop()
        cls._instance_dict.clear()
        classes += cls.__subclasses__()


NO_VALIDATION = ('val_cfg=None', 'val_dataloader=None', 'val_evaluator=None')


def train(config: str, work_dir: str, options: Sequence[str]):
    """tools/train.py in this process; returns the Runner (its work_dir has the checkpoint)."""
    from mmmeta import launch
    fresh_visualizers()
    argv = [config, '--work-dir', work_dir] + (['--cfg-options', *options] if options else [])
    command('train', argv)
    return launch.main_train(argv)


def test(config: str, checkpoint: str, work_dir: str, options: Sequence[str],
         show_dir: str) -> dict:
    """tools/test.py in this process; returns its metrics."""
    from mmmeta import launch
    fresh_visualizers()
    argv = [config, checkpoint, '--work-dir', work_dir, '--show-dir', show_dir]
    argv += ['--cfg-options', *options] if options else []
    command('test', argv)
    return launch.main_test(argv)


def last_checkpoint(work_dir: str) -> str:
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        sys.exit(f'error: training wrote no checkpoint in {work_dir}')
    with open(marker) as f:
        return f.read().strip()


def demo_backbone(config: str) -> str:
    """The pretrained backbone file the demo config starts from ('' when it trains from
    scratch)."""
    from mmmeta.launch import load_config
    init_cfg = load_config(osp.join(ROOT, config)).model.backbone.get('init_cfg')
    return init_cfg.get('checkpoint', '') if init_cfg else ''


def data_options(cfg, root: str) -> List[str]:
    """``--cfg-options`` items that move every dataloader and evaluator path under the
    config's ``data_root`` to ``root`` (ann_file of a COCO evaluator included)."""
    old = str(cfg.get('data_root', '')).rstrip('/')
    if not old:
        return []
    new = root.rstrip('/')

    def walk(node, key) -> Iterator[str]:
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, f'{key}.{k}')
        elif isinstance(node, (list, tuple)):
            for i, v in enumerate(node):
                yield from walk(v, f'{key}.{i}')
        elif isinstance(node, str) and (node == old or node.startswith(old + '/')):
            yield f'{key}={new}{node[len(old):]}'

    tops = [k for k in cfg.keys() if k.endswith(('_dataloader', '_evaluator'))]
    return [item for top in tops for item in walk(cfg[top], top)]


def make_data(kind: str, root: str, data_args: Optional[dict]) -> dict:
    from mmmeta.demo_data import DEMO_PRESETS, MAKERS
    info = MAKERS[kind](root, **(data_args or DEMO_PRESETS[kind]))
    print(f'demo data: {info}', flush=True)
    return info


def pretrain_backbone(out: str) -> None:
    """Make the demo backbone: pretrain PoolFormer-S12 on shapes classification (mmpretrain)
    and store its backbone in mmmeta's layout, as float16."""
    from mmmeta.checkpoint import convert_file
    from mmmeta.demo_data import DEFAULT_ROOTS
    print(f'demo backbone {out}: pretraining it on the shapes classification data', flush=True)
    make_data('cls', DEFAULT_ROOTS['cls'], None)
    work_dir = osp.join('work_dirs', osp.splitext(osp.basename(CLS_CONFIG))[0])
    train(CLS_CONFIG, work_dir, [])
    print(convert_file(last_checkpoint(work_dir), out, arch='poolformer_s12', half=True))


def metric_lines(metrics: Dict[str, float]) -> List[str]:
    """The demo's result lines: COCO box/mask mAP (0-1), mIoU and top-1 (percent)."""
    lines = []
    for key, value in metrics.items():
        if key.endswith(('_mAP', 'mAP_50')):
            lines.append(f'{key:22s}{value:.3f}')
        elif key == 'mIoU':
            lines.append(f'{"mIoU":22s}{value:.2f}')
        elif key == 'accuracy/top1':
            lines.append(f'{"top-1":22s}{value:.2f}')
    return lines


def find_pictures(work_dir: str, show_dir: str) -> str:
    """Where tools/test.py painted (mmdet: work_dir/<time>/show_dir; mmseg:
    work_dir/show_dir/vis_data/vis_image; mmpretrain: work_dir/show_dir)."""
    found = glob.glob(osp.join(work_dir, '*', show_dir)) + \
        glob.glob(osp.join(work_dir, show_dir, 'vis_data', 'vis_image'))
    return max(found, key=osp.getmtime) if found else osp.join(work_dir, show_dir)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from mmmeta.cli import check_cfg_option
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default='configs/demo/retinanet_poolformer_s12_demo.py')
    p.add_argument('--work-dir', default=None, help='default: work_dirs/<config name>')
    p.add_argument('--data', default=None,
                   help="where the demo data go and are read from (default: the config's "
                   'data_root, data/demo_{coco,ade,cls})')
    p.add_argument('--pretrain', action='store_true',
                   help='make the demo backbone again even if its file exists')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='config overrides for training and testing (as tools/train.py); '
                   'inference reads the config as trained')
    args = p.parse_args(argv)
    for item in args.cfg_options:
        check_cfg_option(item)
    return args


def train_and_test(config: str, work_dir: str, options: Sequence[str], kind: str):
    """(checkpoint, metrics, folder of the test pictures) of a training run and its test."""
    # The test below evaluates the last checkpoint; a validation at the end of training would do
    # the same work twice (mmengine validates after the last iteration whatever val_interval is).
    train(config, work_dir, [*options, *NO_VALIDATION])
    ckpt = last_checkpoint(work_dir)
    show_dir = 'predictions'
    # mmdet paints into work_dir/<time>/show_dir; mmseg and mmpretrain take the path as given
    metrics = test(config, ckpt, work_dir, options,
                   show_dir if kind == 'coco' else osp.join(work_dir, show_dir))
    return ckpt, metrics, find_pictures(work_dir, show_dir)


def infer_on(val_img_dir: str, work_dir: str, config: str, ckpt: str) -> dict:
    """The inference tool on the first validation images, with the config as trained (every
    option applied), which the Runner wrote next to the checkpoints."""
    from mmmeta.infer import infer
    trained_cfg = osp.join(work_dir, osp.basename(config))
    images = sorted(glob.glob(osp.join(val_img_dir, '*.jpg')))[:INFER_IMAGES]
    out_dir = osp.join(work_dir, 'infer')
    command('infer', [trained_cfg, ckpt, '<validation images>', '--out-dir', out_dir])
    return infer(trained_cfg, ckpt, images, out_dir=out_dir)


def run(args: argparse.Namespace, data_args: Optional[dict] = None) -> dict:
    """The demo, from the repository root; ``data_args`` replaces the dataset preset (tests
    use a few images)."""
    from mmmeta.launch import library_of, load_config
    from mmmeta.make_demo_data import DEMO_DATA_KIND
    start = time.time()
    name = osp.splitext(osp.basename(args.config))[0]
    work_dir = args.work_dir or osp.join('work_dirs', name)
    cfg = load_config(args.config)
    kind = DEMO_DATA_KIND[library_of(cfg)]
    root = args.data or str(cfg.get('data_root', '')).rstrip('/')
    options = (data_options(cfg, root) if args.data else []) + args.cfg_options
    backbone = demo_backbone(args.config)
    if backbone and (args.pretrain or not osp.isfile(backbone)):
        pretrain_backbone(backbone)
    info = make_data(kind, root, data_args)
    ckpt, metrics, pictures = train_and_test(args.config, work_dir, options, kind)
    predicted = infer_on(info['val_img_dir'], work_dir, args.config, ckpt)

    print('\n=== mmmeta demo finished ===')
    print(f'config      {args.config}')
    print(f'data        {root}')
    print(f'backbone    {backbone or "random init"}')
    print(f'wall time   {(time.time() - start) / 60:.1f} min')
    for line in metric_lines(metrics):
        print(line)
    print(f'checkpoint  {ckpt}')
    print(f'test pictures (ground truth and predictions)  {pictures}/')
    print(f'inference pictures  {predicted["vis_dir"]}/')
    print(f'inference JSON      {predicted["json"]}', flush=True)
    return dict(metrics=metrics, checkpoint=ckpt, infer=predicted)


def main(argv: Optional[Sequence[str]] = None, data_args: Optional[dict] = None) -> dict:
    with in_repo():
        return run(parse_args(argv), data_args)


if __name__ == '__main__':
    main()
