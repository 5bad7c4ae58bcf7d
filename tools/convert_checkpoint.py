#!/usr/bin/env python
"""Convert an official / timm / mmpretrain / authors' mmdet-mmseg checkpoint to mmmeta's layout.

    python tools/convert_checkpoint.py poolformer_s12.pth.tar checkpoints/poolformer_s12.pth \
        --arch poolformer_s12
    python tools/convert_checkpoint.py retinanet_poolformer_s12.pth out.pth --full-model

Conversion also happens on the fly when loading, so this is only needed to store converted
files (or to check a file against an arch before training).
"""
import argparse
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='input checkpoint (.pth, .pth.tar, .safetensors)')
    parser.add_argument('dst', help='output path (.pth or .safetensors)')
    parser.add_argument('--arch', help='check the result against this MetaFormer arch')
    parser.add_argument('--full-model', action='store_true',
                        help='keep neck/head keys of a detector/segmentor checkpoint')
    parser.add_argument('--half', action='store_true',
                        help='store floating-point tensors as float16 (half the file size)')
    args = parser.parse_args()
    from mmmeta.checkpoint import CheckpointError, convert_file
    try:
        print(convert_file(args.src, args.dst, args.arch, args.full_model, args.half))
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        sys.exit(f'error: {err}')


if __name__ == '__main__':
    main()
