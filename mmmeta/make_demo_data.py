"""Write the synthetic shapes demo datasets (see mmmeta/demo_data.py); also
``tools/make_demo_data.py`` and ``python -m mmmeta.make_demo_data``.

    mmmeta-demo-data coco                 # -> data/demo_coco (mmdet, COCO format)
    mmmeta-demo-data ade                  # -> data/demo_ade  (mmseg, ADE20K layout)
    mmmeta-demo-data cls                  # -> data/demo_cls  (mmpretrain, for the
                                                        #    demo backbone's pretraining)
    mmmeta-demo-data all --num-train 40 --num-val 10 --size 256 256 --seed 1

Regeneration is skipped when the output folder already holds the same dataset (use --force).
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional

from mmmeta.demo_data import DEFAULT_ROOTS as DEFAULT_OUT
from mmmeta.demo_data import DEMO_PRESETS, MAKERS

# The demo dataset each library's demo configs read (``mmmeta-demo-data KIND``).
DEMO_DATA_KIND = {'mmdet': 'coco', 'mmseg': 'ade', 'mmpretrain': 'cls'}
# Where the demo configs' pretrained backbone lives (made by ``tools/demo.py --pretrain``).
DEMO_BACKBONE_DIR = 'checkpoints/demo/'


def demo_data_cmd(args: str) -> str:
    """How to make the demo data, in a clone and with an installed wheel."""
    return (f'`python tools/make_demo_data.py {args}` '
            f'(installed mmmeta: `mmmeta-demo-data {args}`)')


def demo_data_hint(scope: Optional[str], extra: str = '') -> str:
    """The command that makes the demo data of a library (``default_scope``); all kinds for a
    scope without one. ``extra``: more arguments (``' --force'``)."""
    return demo_data_cmd(DEMO_DATA_KIND.get(scope, 'all') + extra)


def demo_backbone_fix(path: str) -> Optional[str]:
    """How to get a missing pretrained backbone file back when it is the demo backbone;
    None for any other file."""
    if DEMO_BACKBONE_DIR not in path.replace(os.sep, '/'):
        return None
    return ('It is the demo backbone shipped with mmmeta: run from the repository root, or '
            'make it again with `python tools/demo.py --pretrain`.')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('kind', choices=['coco', 'ade', 'cls', 'all'],
                        help='which dataset(s) to write')
    parser.add_argument('--out', help='output folder (default: data/demo_{coco,ade,cls}; '
                        'with "all": a parent folder holding demo_coco/, demo_ade/, demo_cls/)')
    preset = ', '.join(f'{k}: {v}' for k, v in DEMO_PRESETS.items())
    parser.epilog = f'Defaults (what the demo configs expect): {preset}'
    parser.add_argument('--num-train', type=int, help='training images')
    parser.add_argument('--num-val', type=int, help='validation images')
    parser.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                        help='image height and width')
    parser.add_argument('--seed', type=int, default=0, help='random seed (same seed, same bytes)')
    parser.add_argument('--max-shapes', type=int, help='each image holds 1 to this many shapes')
    parser.add_argument('--shape-size', type=float, nargs=2, metavar=('MIN', 'MAX'),
                        help='shape extent range, as fractions of the shorter image side')
    parser.add_argument('--force', action='store_true', help='regenerate even if up to date')
    return parser.parse_args(argv)


def out_dir(kind: str, requested: str, both: bool) -> str:
    """--out names the dataset folder, or with 'all' the folder that holds both datasets."""
    if requested is None:
        return DEFAULT_OUT[kind]
    return osp.join(requested, osp.basename(DEFAULT_OUT[kind])) if both else requested


def dataset_args(kind: str, args: argparse.Namespace) -> dict:
    """The kind's demo preset, with what the command line gives instead."""
    given = dict(num_train=args.num_train, num_val=args.num_val, size=args.size,
                 max_shapes=args.max_shapes, shape_size=args.shape_size)
    out = dict(DEMO_PRESETS[kind])
    out.update({k: tuple(v) if isinstance(v, list) else v for k, v in given.items()
                if v is not None})
    return out


def describe(info: dict) -> str:
    verb = 'wrote' if info['generated'] else 'up to date (use --force to regenerate):'
    lines = [f"{info['kind']}: {verb} {info['root']}"]
    for key, value in info.items():
        if key.endswith(('_dir', '_file')) or key.startswith('num_'):
            lines.append(f'  {key:20s} {value}')
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    kinds = list(MAKERS) if args.kind == 'all' else [args.kind]
    for kind in kinds:
        try:
            info = MAKERS[kind](out_dir(kind, args.out, len(kinds) > 1), seed=args.seed,
                                force=args.force, **dataset_args(kind, args))
        except ValueError as err:
            raise SystemExit(f'error: {err}')
        print(describe(info))
    return 0


if __name__ == '__main__':
    sys.exit(main())
