"""mmmeta: MetaFormer backbones (PoolFormer and family) for mmdet, mmseg and mmpretrain."""
import re
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent


def pins() -> dict:
    """Read the tested versions from constraints.txt, the single place they live."""
    out = {}
    for line in (ROOT / 'constraints.txt').read_text().splitlines():
        line = line.split('#')[0].strip()
        if line:
            name, ver = line.split('==')
            out[name] = ver
    return out


def version() -> str:
    text = (ROOT / 'mmmeta' / 'version.py').read_text()
    return re.search(r"__version__ = '([^']+)'", text).group(1)


P = pins()
# torch is a floor, not a pin: users bring the build that matches their CUDA.
# mmcv is installed (compiled with ops) by tools/install.sh before this package.
RUNTIME = ['torch>=2.0', 'mmengine==' + P['mmengine'], 'numpy', 'safetensors']
EXTRAS = {
    'mm': [f'mmcv=={P["mmcv"]}'] + [f'{n}=={P[n]}' for n in
                                     ('mmdet', 'mmsegmentation', 'mmpretrain', 'pycocotools',
                                      'ftfy', 'regex', 'opencv-python')] + ['matplotlib'],
    'tests': [f'{n}=={P[n]}' for n in ('pytest', 'timm')],
}
EXTRAS['tests'] = EXTRAS['tests'] + EXTRAS['mm']

setup(
    name='mmmeta',
    version=version(),
    description='MetaFormer backbones (PoolFormer and family) for OpenMMLab dense prediction',
    long_description=(ROOT / 'README.md').read_text() if (ROOT / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.8',
    packages=find_packages(include=['mmmeta', 'mmmeta.*']),
    install_requires=RUNTIME,
    extras_require=EXTRAS,
)
