"""Check the datasets a config trains and tests on, without building a model: every dataset
path exists, the listed images are there and COCO annotation files are COCO (the checks that
tools/train.py and tools/test.py run first). The logic lives in :mod:`mmmeta.launch.verify`.

    python tools/misc/verify_dataset.py configs/retinanet_poolformer_s12_1x_coco.py
    python tools/misc/verify_dataset.py CONFIG --phase test \\
        --cfg-options test_dataloader.dataset.data_root=/data/coco/
"""
import sys

import mmmeta  # noqa: F401  (registers the backbones, applies mmmeta.compat)
from mmmeta.launch import main_verify

if __name__ == '__main__':
    sys.exit(main_verify())
