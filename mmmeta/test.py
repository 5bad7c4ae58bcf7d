"""``mmmeta-test`` / ``python -m mmmeta.test``: tools/test.py of an installed mmmeta.

CONFIG is a file or the name of a config shipped with mmmeta; the other arguments are
tools/test.py's.
"""
import sys

from .launch import main_test as main

if __name__ == '__main__':
    sys.exit(main())
