#!/usr/bin/env python
"""Print parameters and MACs (fvcore's counting, which the papers call FLOPs).

    python tools/analysis/get_flops.py poolformer_s12            # ImageNet classifier @224
    python tools/analysis/get_flops.py all --trunk               # every arch, trunk only
    python tools/analysis/get_flops.py configs/retinanet_poolformer_s12_1x_coco.py --shape 800 1333
"""
import argparse
import os
import sys


def from_config(path: str, shape, no_macs: bool) -> None:
    import mmmeta  # noqa: F401
    from mmmeta.analysis import build_model, config_complexity
    res = config_complexity(build_model(path), tuple(shape), macs=not no_macs)
    macs = '-' if res['macs'] is None else f'{res["macs"] / 1e9:.2f}G'
    print(f'{os.path.basename(path)}  input {shape[0]}x{shape[1]}  params '
          f'{res["params"] / 1e6:.2f}M  MACs {macs}')


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('target', help="an arch name, 'all', or a config file")
    p.add_argument('--shape', type=int, nargs=2, default=None, metavar=('H', 'W'))
    p.add_argument('--trunk', action='store_true', help='count the bare 4-stage trunk')
    p.add_argument('--no-macs', action='store_true', help='parameters only (fast)')
    args = p.parse_args()
    if args.target.endswith('.py'):
        if not os.path.isfile(args.target):
            sys.exit(f'error: config file not found: {args.target}')
        return from_config(args.target, args.shape or (800, 1333), args.no_macs)
    from mmmeta.analysis import all_archs, arch_complexity
    archs = all_archs() if args.target == 'all' else [args.target]
    unknown = [a for a in archs if a not in all_archs()]
    if unknown:
        sys.exit(f'error: unknown arch {unknown[0]!r}; valid: {", ".join(all_archs())}')
    shape = tuple(args.shape or (224, 224))
    what = 'trunk' if args.trunk else 'ImageNet classifier'
    print(f'{"arch":24s} {"params":>10s} {"MACs":>9s}   ({what}, {shape[0]}x{shape[1]})')
    for a in archs:
        r = arch_complexity(a, shape, classifier=not args.trunk)
        print(f'{a:24s} {r["params"] / 1e6:9.2f}M {r["macs"] / 1e9:8.2f}G')


if __name__ == '__main__':
    main()
