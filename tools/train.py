"""Train a detector (mmdet), segmentor (mmseg) or classifier (mmpretrain) from a config.

Same arguments as mmdet 3.3.0's tools/train.py; the library is picked from the config's
``default_scope``. The logic lives in :mod:`mmmeta.launch`. Examples::

    python tools/train.py configs/retinanet_poolformer_s12_1x_coco.py
    python tools/train.py CONFIG --resume                  # latest checkpoint in work_dir
    bash tools/dist_train.sh CONFIG 2                      # torchrun, also on CPU (gloo)
"""


import mmmeta  # noqa: F401  (registers the backbones, applies mmmeta.compat)
from mmmeta import launch


def main() -> None:
    launch.main_train()


if __name__ == '__main__':
    main()
