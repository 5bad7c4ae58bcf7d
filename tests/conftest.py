"""Shared fixtures of the test suite, and its layers.

Layers (markers registered in pytest.ini; every test file sets ``pytestmark``, single tests
may add ``slow``):

* ``unit``: pure Python and in-process model tests (backbone, mixers, configs, checkpoint
  mapping, contracts on tiny inputs); no subprocess, no training. ``make test-unit``
  (``pytest -m unit``) runs them in under a minute on two CPU cores.
* ``e2e``: the tools as a user runs them (subprocesses), training and testing on the
  synthetic demo data, packaging.
* ``slow``: any test that takes more than about 10 s on two shared CPU cores (e.g. the
  full-size config and checkpoint comparisons); never also ``unit``.

``make test`` runs everything (lint first); ``pytest -m "not slow"`` is the quick full pass.
Plain helper functions are in helpers.py (``from helpers import ...``).
"""
import sys
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # `import helpers` under any --import-mode
    sys.path.insert(0, str(TESTS))


def _module_args(request, name: str) -> dict:
    """The demo-data arguments a test module asks for (a module constant ``name``)."""
    args = getattr(request.module, name, None)
    assert isinstance(args, dict), f'{request.module.__name__} must define {name} = dict(...)'
    return args


@pytest.fixture(scope='module')
def coco_root(request, tmp_path_factory) -> Path:
    """A synthetic COCO tree (mmmeta.demo_data), made once per module with the module's
    ``COCO_DATA`` arguments."""
    from mmmeta.demo_data import make_coco_demo
    root = tmp_path_factory.mktemp('demo_coco')
    info = make_coco_demo(root, **_module_args(request, 'COCO_DATA'))
    assert info['num_val_instances'] > 0
    return root


@pytest.fixture(scope='module')
def ade_root(request, tmp_path_factory) -> Path:
    """A synthetic ADE20K tree, made once per module with the module's ``ADE_DATA``."""
    from mmmeta.demo_data import make_ade_demo
    root = tmp_path_factory.mktemp('demo_ade')
    make_ade_demo(root, **_module_args(request, 'ADE_DATA'))
    return root


@pytest.fixture(scope='module')
def cls_root(request, tmp_path_factory) -> Path:
    """A synthetic classification tree, made once per module with the module's ``CLS_DATA``."""
    from mmmeta.demo_data import make_cls_demo
    root = tmp_path_factory.mktemp('demo_cls')
    make_cls_demo(root, **_module_args(request, 'CLS_DATA'))
    return root


@pytest.fixture(scope='module')
def one_thread():
    """Tiny CPU models run much faster on one thread than on two contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    """The layers do not overlap: a ``unit`` test is never also ``slow`` or ``e2e`` (so that
    ``pytest -m unit`` stays under a minute)."""
    wrong = [item.nodeid for item in items if item.get_closest_marker('unit')
             and (item.get_closest_marker('slow') or item.get_closest_marker('e2e'))]
    if wrong:
        raise pytest.UsageError('marked unit and also slow or e2e (pick one layer): '
                                + ', '.join(wrong[:10]))
