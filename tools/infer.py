"""Predict with a trained model on an image, a folder of images or a video; pictures with the
predictions drawn go to ``OUT/vis/`` and one JSON to ``OUT/predictions.json``.

The library is picked from the config's ``default_scope``; the logic lives in
:mod:`mmmeta.infer` (also installed as the ``mmmeta-infer`` command). Examples::

    python tools/infer.py configs/demo/retinanet_poolformer_s12_demo.py \
        work_dirs/retinanet_poolformer_s12_demo/iter_2000.pth data/demo_coco/val --out-dir out
    python tools/infer.py CONFIG CHECKPOINT video.mp4 --score-thr 0.5 --batch-size 4
"""
import sys

import mmmeta  # noqa: F401  (registers the backbones and the safe checkpoint loader)
from mmmeta import infer


def main() -> int:
    return infer.main()


if __name__ == '__main__':
    sys.exit(main())
