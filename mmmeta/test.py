"""``mmmeta-test`` / ``python -m mmmeta.test``: tools/test.py of an installed mmmeta.

CONFIG is a file or the name of a config shipped with mmmeta (``mmmeta-test
retinanet_poolformer_s12_demo``); the other arguments are tools/test.py's.
"""
import sys
from typing import Optional, Sequence

from .launch import main_test


def main(argv: Optional[Sequence[str]] = None) -> int:
    main_test(argv)
    return 0


if __name__ == '__main__':
    sys.exit(main())
