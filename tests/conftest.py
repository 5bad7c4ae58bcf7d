"""Shared fixtures of the test suite, and its layers.

Layers (markers registered in pytest.ini with --strict-markers; set per file with
``pytestmark`` or per test; every test of a file carries one of them):

* ``unit``: library code in-process on tiny inputs (backbone, mixers, config recipes,
  checkpoint mapping, demo data, the model zoo's metadata): each test well under a second, the
  layer under a minute on two CPU cores (``make test-unit`` = ``pytest -m unit``).
* ``e2e``: the tools as a user runs them: subprocesses (tools/*.py, entry points, mim, a
  wheel in a fresh venv), training and testing on the synthetic demo data, or a tool's main()
  in-process.
* ``slow``: too slow for the unit minute: full-size models, every config or arch, timm
  comparisons, and every test that starts a subprocess or trains (seconds to minutes).
  A ``unit`` test is never also ``slow`` or ``e2e`` (checked below).

``make test`` runs ruff and then everything; ``pytest -m "not slow"`` is a quick broad pass.
Plain helper functions are in helpers.py (``from helpers import ...``).
"""
import sys
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # `import helpers` under any --import-mode
    sys.path.insert(0, str(TESTS))

from launch_helpers import det_config_text, make_ade, make_coco, seg_config_text, set_accelerator  # noqa: E402


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


@pytest.fixture(autouse=True)
def _unit_tests_on_one_thread(request):
    """``unit`` tests run their tiny models on one thread (2-4x less CPU than two threads)."""
    if request.node.get_closest_marker('unit') is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- launcher test configs

@pytest.fixture
def det_cfg_file(tmp_path: Path) -> Path:
    root = make_coco(tmp_path / 'coco')
    path = tmp_path / 'retinanet_toy_coco.py'
    path.write_text(det_config_text(str(root) + '/'))
    return path


@pytest.fixture
def seg_cfg_file(tmp_path: Path) -> Path:
    root = make_ade(tmp_path / 'ade')
    path = tmp_path / 'fpn_toy_ade.py'
    path.write_text(seg_config_text(str(root)))
    return path


@pytest.fixture
def ckpt_file(tmp_path: Path) -> Path:
    path = tmp_path / 'model.pth'
    torch.save({'state_dict': {}}, path)
    return path


@pytest.fixture
def cpu_only(monkeypatch):
    """Behave as on a machine without an accelerator, whatever this one has."""
    set_accelerator(monkeypatch, False)


def pytest_collection_modifyitems(config, items):
    """Every test is in a layer, and the layers do not overlap: a ``unit`` test is never also
    ``slow`` or ``e2e`` (so that ``pytest -m unit`` stays under a minute)."""
    def has(item, name):
        return item.get_closest_marker(name) is not None

    wrong = [item.nodeid for item in items if has(item, 'unit')
             and (has(item, 'slow') or has(item, 'e2e'))]
    if wrong:
        raise pytest.UsageError('marked unit and also slow or e2e (pick one layer): '
                                + ', '.join(wrong[:10]))
    unmarked = [item.nodeid for item in items
                if not any(has(item, m) for m in ('unit', 'e2e', 'slow'))]
    if unmarked:
        raise pytest.UsageError('not in a test layer (mark it unit, e2e or slow): '
                                + ', '.join(unmarked[:10]))
