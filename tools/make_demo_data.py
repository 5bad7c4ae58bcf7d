"""Write the synthetic shapes demo datasets: see :mod:`mmmeta.make_demo_data` (``--help``).

    python tools/make_demo_data.py coco      # -> data/demo_coco (mmdet, COCO format)
    python tools/make_demo_data.py ade       # -> data/demo_ade  (mmseg, ADE20K layout)
    python tools/make_demo_data.py cls       # -> data/demo_cls  (mmpretrain)
"""
import sys

from mmmeta.make_demo_data import main

if __name__ == '__main__':
    sys.exit(main())
