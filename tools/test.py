"""Test (and evaluate) a checkpoint with a config (mmdet, mmseg or mmpretrain).

Same arguments as mmdet 3.3.0's / mmseg 1.2.2's tools/test.py; the library is picked from the
config's ``default_scope``. The logic lives in :mod:`mmmeta.launch`. Examples::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --out results.pkl      # mmdet: dump predictions
    python tools/test.py CONFIG CHECKPOINT --out pred_dir --tta   # mmseg: save masks, TTA
    bash tools/dist_test.sh CONFIG CHECKPOINT 2
"""


import mmmeta  # noqa: F401  (registers the backbones, applies mmmeta.compat)
from mmmeta import launch


def main() -> None:
    launch.main_test()


if __name__ == '__main__':
    main()
