"""``mmmeta-test`` / ``python -m mmmeta.test``: tools/test.py of an installed mmmeta.

CONFIG is a file or the name of a config shipped with mmmeta (``mmmeta-test
retinanet_poolformer_s12_demo``); the other arguments are tools/test.py's.
"""
import sys
from functools import partial

from .launch import command

main = partial(command, 'test')  # main(argv=None) -> exit status

if __name__ == '__main__':
    sys.exit(main())
