#!/usr/bin/env python
"""The README's main command: RetinaNet-PoolFormer-S12 on the bundled synthetic shapes data.

1. generates the demo dataset (COCO format) if it is not there yet,
2. trains ``configs/demo/retinanet_poolformer_s12_demo.py`` with ``tools/train.py``, starting
   from the demo backbone the config names (``checkpoints/demo/``, shipped with the repo: a
   PoolFormer-S12 pretrained on shapes classification, the demo's stand-in for ImageNet),
3. evaluates the last checkpoint with ``tools/test.py`` (the real COCO metric) and writes
   pictures of the predictions with ``--show-dir``,
4. prints the wall time and the box mAP reached.

When the demo backbone file is missing, or with ``--pretrain``, it is made first (about 20
minutes on 2 CPU cores): the shapes classification data (``make_demo_data.py cls``), mmpretrain
training of ``configs/demo/cls_poolformer_s12_demo.py`` and ``convert_checkpoint.py --half``.

Everything runs on CPU unless a GPU is present. ``--config`` picks another demo config (e.g.
``configs/demo/mask_rcnn_poolformer_s12_demo.py``).
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def run(cmd) -> None:
    print('+', ' '.join(cmd), flush=True)
    if subprocess.call(cmd, cwd=ROOT) != 0:
        sys.exit(f'demo step failed: {" ".join(cmd)}')


def last_checkpoint(work_dir: str) -> str:
    marker = os.path.join(work_dir, 'last_checkpoint')
    if not os.path.isfile(marker):
        sys.exit(f'training wrote no checkpoint in {work_dir}')
    with open(marker) as f:
        return f.read().strip()


def read_metrics(work_dir: str) -> dict:
    """The metrics line that tools/test.py's run logged last (mmengine's scalars.json)."""
    runs = sorted(d for d in os.listdir(work_dir) if d[:8].isdigit())
    for run_dir in reversed(runs):
        path = os.path.join(work_dir, run_dir, 'vis_data', 'scalars.json')
        if os.path.isfile(path):
            with open(path) as f:
                lines = [json.loads(line) for line in f if line.strip()]
            if lines:
                return lines[-1]
    return {}


CLS_CONFIG = 'configs/demo/cls_poolformer_s12_demo.py'


def demo_backbone(config: str) -> str:
    """The pretrained backbone file the demo config starts from ('' when it trains from
    scratch)."""
    from mmengine.config import Config
    init_cfg = Config.fromfile(os.path.join(ROOT, config)).model.backbone.get('init_cfg')
    return init_cfg.get('checkpoint', '') if init_cfg else ''


def pretrain_backbone(out: str) -> None:
    """Make the demo backbone: pretrain PoolFormer-S12 on shapes classification (mmpretrain)
    and store its backbone in mmmeta's layout, as float16."""
    from mmmeta.demo_data import DEMO_PRESETS, make_cls_demo
    print(f'demo backbone {out}: pretraining it on the shapes classification data', flush=True)
    info = make_cls_demo(os.path.join(ROOT, 'data', 'demo_cls'), **DEMO_PRESETS['cls'])
    print(f'demo data: {info}')
    work_dir = os.path.join('work_dirs', os.path.splitext(os.path.basename(CLS_CONFIG))[0])
    py = sys.executable
    run([py, 'tools/train.py', CLS_CONFIG, '--work-dir', work_dir])
    ckpt = last_checkpoint(os.path.join(ROOT, work_dir))
    run([py, 'tools/convert_checkpoint.py', ckpt, out, '--arch', 'poolformer_s12', '--half'])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default='configs/demo/retinanet_poolformer_s12_demo.py')
    p.add_argument('--work-dir', default=None)
    p.add_argument('--data', default='data/demo_coco')
    p.add_argument('--pretrain', action='store_true',
                   help='make the demo backbone again even if its file exists')
    args = p.parse_args()
    name = os.path.splitext(os.path.basename(args.config))[0]
    work_dir = args.work_dir or os.path.join('work_dirs', name)
    start = time.time()

    from mmmeta.demo_data import DEMO_PRESETS, make_coco_demo
    backbone = demo_backbone(args.config)
    if backbone and (args.pretrain or not os.path.isfile(os.path.join(ROOT, backbone))):
        pretrain_backbone(backbone)
    info = make_coco_demo(os.path.join(ROOT, args.data), **DEMO_PRESETS['coco'])
    print(f'demo data: {info}')
    py = sys.executable
    run([py, 'tools/train.py', args.config, '--work-dir', work_dir])
    ckpt = last_checkpoint(os.path.join(ROOT, work_dir))
    show_dir = 'predictions'
    run([py, 'tools/test.py', args.config, ckpt, '--work-dir', work_dir,
         '--show-dir', show_dir])
    metrics = read_metrics(os.path.join(ROOT, work_dir))
    minutes = (time.time() - start) / 60
    keys = [k for k in metrics if k.endswith('_mAP') or k.endswith('mAP_50')]
    print('\n=== mmmeta demo finished ===')
    print(f'config      {args.config}')
    print(f'backbone    {backbone or "random init"}')
    print(f'wall time   {minutes:.1f} min')
    for k in keys:
        print(f'{k:22s}{metrics[k]:.3f}')
    print(f'checkpoint  {ckpt}')
    print(f'pictures    {os.path.join(work_dir, "<timestamp>", show_dir)}/')


if __name__ == '__main__':
    main()
