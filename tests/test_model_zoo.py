"""The model zoo (configs/metafile.yml) against the configs, the models they build,
mmmeta/weights.py and the README tables.

Nothing here retypes a number: published results are compared with the configs' header
comments and weights.py (the copies that already exist), demo results with the README's
"Demos" text, parameters with models built on the meta device, and FLOPs are re-measured for
the smallest config only (a dense model at its paper size takes minutes on 2 CPU cores).
"""
import copy
import itertools
import re
import runpy
from pathlib import Path

import pytest
import yaml

for _lib in ('mmdet', 'mmseg', 'mmpretrain'):
    pytest.importorskip(_lib)

from mmmeta import zoo  # noqa: E402
from mmmeta.analysis import count_params  # noqa: E402
from mmmeta.weights import WEIGHTS  # noqa: E402

CONFIGS = zoo.config_paths()
METAFILE = zoo.read_metafile()
MODELS = zoo.models_by_name(METAFILE)
TOOL = runpy.run_path(str(zoo.ROOT / 'tools/analysis/zoo_tables.py'))
REAL = [p for p in CONFIGS if not zoo.is_demo(p)]
DEMOS = [p for p in CONFIGS if zoo.is_demo(p)]
# how a config header names its reference metrics
HEADER_NAMES = {'box AP': 'box AP', 'mask AP': 'mask AP', 'mIoU': 'mIoU',
                'top-1': 'Top 1 Accuracy'}
# how the README's "Demos" text writes a measured demo metric
README_FORMS = {'box AP': lambda v: f'box mAP {v / 100:.3f}',
                'mask AP': lambda v: f'mask mAP {v / 100:.3f}',
                'mIoU': lambda v: f'mIoU {v:.1f}',
                'Top 1 Accuracy': lambda v: f'{v:.1f}% top-1'}


def entry(path: str) -> dict:
    return MODELS[Path(path).stem]


def metrics(model: dict) -> dict:
    return {k: v for r in model.get('Results') or [] for k, v in r['Metrics'].items()}


def header_reference(path: str) -> dict:
    """The metrics named in a config's leading comment as ``(reference: 36.2 box AP, ...)``."""
    lines = itertools.takewhile(lambda s: s.startswith('#'),
                                (zoo.ROOT / path).read_text().splitlines())
    found = re.search(r'\(reference: ([^)]*)\)', ' '.join(s.lstrip('# ') for s in lines))
    pairs = re.findall(r'([\d.]+) (box AP|mask AP|mIoU|top-1)', found.group(1) if found else '')
    return {HEADER_NAMES[name]: float(value) for value, name in pairs}


@pytest.mark.unit
def test_one_entry_per_config_and_index():
    names = [m['Name'] for m in METAFILE['Models']]
    assert len(names) == len(set(names)), 'duplicate names'
    assert sorted(names) == sorted(Path(p).stem for p in CONFIGS)
    assert all((zoo.ROOT / m['Config']).is_file() for m in METAFILE['Models'])
    index = yaml.safe_load((zoo.ROOT / 'model-index.yml').read_text())
    assert index == {'Import': [zoo.METAFILE]}


@pytest.mark.slow
def test_metafile_is_what_the_tool_writes():
    """Derived fields and collections are current: `zoo_tables.py --measure` would change
    nothing but measurements (so hand-written results survive it)."""
    assert zoo.sync(copy.deepcopy(METAFILE), {}) == METAFILE, (
        'stale: python tools/analysis/zoo_tables.py --measure CONFIG (the changed config)')


@pytest.mark.unit
def test_model_index_loads():
    modelindex = pytest.importorskip('modelindex')
    index = modelindex.load(str(zoo.ROOT / 'model-index.yml'))
    assert index.check(silent=True) == []
    assert sorted(m.name for m in index.models) == sorted(MODELS)


@pytest.mark.unit
@pytest.mark.parametrize('path', CONFIGS)
def test_entry_follows_from_config(path):
    got, cfg = entry(path), zoo.load_config(path)
    want = zoo.derived_entry(path, cfg)
    assert got['Metadata']['Architecture'][0] == cfg.model.backbone.arch
    for key in ('Config', 'In Collection', 'Weights'):
        assert got.get(key) == want.get(key), key
    for key in ('Training Data', 'Architecture', 'Pretrained'):
        assert got['Metadata'].get(key) == want['Metadata'].get(key), key
    size = zoo.collection_of(cfg).flops_input
    assert got['Metadata']['FLOPs Input (HxW)'] == f'{size[0]}x{size[1]}'


@pytest.mark.slow
@pytest.mark.parametrize('path', CONFIGS)
def test_parameters_measured(path):
    assert entry(path)['Metadata']['Parameters'] == count_params(zoo.load_config(path)), (
        f'stale: python tools/analysis/zoo_tables.py --measure {path}')


@pytest.mark.slow
def test_flops_remeasured_for_the_smallest_config():
    path = 'configs/cls_poolformer_s12_300e_in1k.py'
    want = {k: entry(path)['Metadata'][k] for k in zoo.MEASURED}
    assert zoo.measure(path) == want


@pytest.mark.unit
@pytest.mark.parametrize('path', CONFIGS)
def test_results_name_the_collection_task_and_dataset(path):
    coll = zoo.collection_of(zoo.load_config(path))
    dataset = zoo.DEMO_DATA if zoo.is_demo(path) else coll.dataset
    for result in entry(path).get('Results') or []:
        assert result['Dataset'] == dataset
        assert list(result['Metrics']) == [coll.metrics[result['Task']]]


@pytest.mark.unit
@pytest.mark.parametrize('path', REAL)
def test_published_results_match_the_config_header(path):
    """Only what the header cites as published; the same top-1 as weights.py."""
    got, cfg = metrics(entry(path)), zoo.load_config(path)
    assert got == header_reference(path)
    if cfg.model.type == 'ImageClassifier':
        assert got == {'Top 1 Accuracy': WEIGHTS[cfg.model.backbone.arch].top1}


@pytest.mark.unit
@pytest.mark.parametrize('path', DEMOS)
def test_demo_results_are_the_readme_numbers(path):
    readme = (zoo.ROOT / 'README.md').read_text()
    got = metrics(entry(path))
    assert got, 'every demo has measured results'
    for name, value in got.items():
        assert README_FORMS[name](value) in readme, (name, value)


@pytest.mark.unit
def test_readme_tables_are_current():
    assert TOOL['main'](['--check']) == 0, 'run python tools/analysis/zoo_tables.py'


@pytest.mark.unit
def test_readme_check_sees_a_change():
    readme = (zoo.ROOT / 'README.md').read_text()
    changed = copy.deepcopy(METAFILE)
    changed['Models'][0]['Metadata']['Parameters'] += 10**6
    assert TOOL['splice'](readme, TOOL['render'](changed)) != readme
    with pytest.raises(SystemExit, match='zoo-tables:start'):
        TOOL['splice']('no markers', '')
