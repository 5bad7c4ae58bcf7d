"""``mmmeta-train`` / ``python -m mmmeta.train``: tools/train.py of an installed mmmeta.

CONFIG is a file or the name of a config shipped with mmmeta (``mmmeta-train
retinanet_poolformer_s12_demo``); the other arguments are tools/train.py's.
"""
import sys
from typing import Optional, Sequence

from .launch import main_train


def main(argv: Optional[Sequence[str]] = None) -> int:
    main_train(argv)
    return 0


if __name__ == '__main__':
    sys.exit(main())
