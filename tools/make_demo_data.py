"""Write the synthetic shapes demo datasets: see :mod:`mmmeta.make_demo_data` (``--help``).

    python tools/make_demo_data.py coco      # -> data/demo_coco (mmdet, COCO format)
    python tools/make_demo_data.py ade       # -> data/demo_ade  (mmseg, ADE20K layout)
    python tools/make_demo_data.py cls       # -> data/demo_cls  (mmpretrain)
"""
import os.path as osp
import sys

# Work from a plain checkout too (without `pip install -e .`).
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmmeta.make_demo_data import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
