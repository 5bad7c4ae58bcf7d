"""``mmmeta-train`` / ``python -m mmmeta.train``: tools/train.py of an installed mmmeta.

CONFIG is a file or the name of a config shipped with mmmeta (``mmmeta-train
retinanet_poolformer_s12_demo``); the other arguments are tools/train.py's.
"""
import sys
from functools import partial

from .launch import command

main = partial(command, 'train')  # main(argv=None) -> exit status

if __name__ == '__main__':
    sys.exit(main())
