"""mmmeta.launch.configs: which library runs a config, its registries, finding and loading
configs (by file or shipped name), walking wrapper datasets."""
import pytest
from launch_helpers import error_of
from mmengine.config import Config

from mmmeta.launch import configs


@pytest.mark.unit
@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_library_of_known_scopes(scope):
    assert configs.library_of(Config(dict(default_scope=scope))) == scope


@pytest.mark.unit
@pytest.mark.parametrize('cfg', [dict(), dict(default_scope='mmocr')])
def test_library_of_rejects_missing_or_unknown_scope(cfg):
    with pytest.raises(SystemExit) as exc:
        configs.library_of(Config(cfg))
    assert "'mmdet', 'mmseg', 'mmpretrain'" in error_of(exc)


@pytest.mark.parametrize('scope,registered', [('mmdet', 'DumpDetResults'),
                                              ('mmseg', 'IoUMetric')])
@pytest.mark.slow
def test_init_library_registers_modules(scope, registered):
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmengine'):  # restores the scope afterwards
        assert configs.init_library(Config(dict(default_scope=scope))) == scope
        assert DefaultScope.get_current_instance().scope_name == scope
    metrics = __import__(f'{scope}.registry', fromlist=['METRICS']).METRICS
    assert registered in metrics.module_dict


@pytest.mark.unit
def test_init_library_reports_broken_library(monkeypatch):
    def broken(name, *args, **kwargs):
        raise AssertionError('MMCV==2.2.0 is used but incompatible')

    monkeypatch.setattr(configs.importlib, 'import_module', broken)
    with pytest.raises(SystemExit) as exc:
        configs.init_library(Config(dict(default_scope='mmdet')))
    assert 'importing mmdet failed' in error_of(exc) and 'MMCV==2.2.0' in error_of(exc)


@pytest.mark.unit
def test_missing_config(tmp_path):
    with pytest.raises(SystemExit) as exc:
        configs.load_config(str(tmp_path / 'missing_config.py'))
    assert 'config file not found' in error_of(exc) and 'missing_config.py' in error_of(exc)


@pytest.mark.unit
def test_config_by_shipped_name_and_close_names():
    """A shipped config is found by its name alone; a near miss suggests the names."""
    path = configs.resolve_config('retinanet_poolformer_s12_demo')
    assert path.endswith('retinanet_poolformer_s12_demo.py')
    assert configs.load_config('retinanet_poolformer_s12_demo').default_scope == 'mmdet'
    with pytest.raises(SystemExit) as exc:
        configs.resolve_config('retinanet_poolformer_s12_dem')
    assert 'Did you mean retinanet_poolformer_s12_demo' in error_of(exc)


@pytest.mark.unit
def test_load_config_merges_cfg_options(tmp_path):
    path = tmp_path / 'c.py'
    path.write_text("default_scope = 'mmdet'\ntrain_cfg = dict(max_iters=1)\n")
    cfg = configs.load_config(str(path), {'train_cfg.max_iters': 5})
    assert cfg.train_cfg.max_iters == 5


@pytest.mark.unit
@pytest.mark.parametrize('lib', ['mmdet', 'mmseg'])
def test_library_registry(lib):
    registry = configs.library_registry(Config(dict(default_scope=lib)), 'DATASETS')
    assert registry is __import__(f'{lib}.registry', fromlist=['DATASETS']).DATASETS
    assert configs.library_registry(lib, 'MODELS').scope == lib


@pytest.mark.unit
def test_iter_dataset_cfgs_through_wrappers():
    leaf = dict(type='CocoDataset', data_root='a/')
    wrapped = dict(type='ConcatDataset', datasets=[
        dict(type='RepeatDataset', times=2, dataset=leaf), dict(type='CocoDataset')])
    found = list(configs.iter_dataset_cfgs(wrapped, 'd'))
    assert [key for key, _ in found] == ['d.datasets.0.dataset', 'd.datasets.1']
    assert found[0][1] is leaf
