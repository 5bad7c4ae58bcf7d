"""``mmmeta-train`` / ``python -m mmmeta.train``: tools/train.py of an installed mmmeta.

CONFIG is a file or the name of a config shipped with mmmeta (``mmmeta-train
retinanet_poolformer_s12_demo``); the other arguments are tools/train.py's.
"""
import sys

from .launch import main_train as main

if __name__ == '__main__':
    sys.exit(main())
