# Classes and palette of the synthetic shapes data of tools/make_demo_data.py (mmmeta.demo_data
# METAINFO; tests/test_configs.py checks that they agree): the demo configs' one copy.
metainfo = dict(
    classes=('circle', 'square', 'triangle', 'star'),
    palette=[(220, 20, 60), (0, 110, 230), (250, 170, 30), (60, 180, 75)])
