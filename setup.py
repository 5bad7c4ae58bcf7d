"""mmmeta: MetaFormer backbones (PoolFormer and family) for mmdet, mmseg and mmpretrain."""
import os
import re
import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# What a wheel carries besides the code, under mmmeta/.mim/ (the OpenMMLab convention that mim
# and mmmeta's own entry points read): configs, tools, the model index and the demo backbone.
MIM_FILES = ('configs', 'tools', 'model-index.yml', 'checkpoints/demo')
STARTUP_PTH = 'mmmeta-safe-load.pth'  # see _mmmeta_safe_load.py


def version() -> str:
    text = (ROOT / 'mmmeta' / 'version.py').read_text()
    return re.search(r"__version__ = '([^']+)'", text).group(1)


def add_mim_extension() -> None:
    """Fill mmmeta/.mim: copies for a wheel or sdist, links for an editable install."""
    building = {'bdist_wheel', 'sdist', 'build', 'build_py'} & set(sys.argv)
    editable = {'develop', 'editable_wheel'} & set(sys.argv)
    if not (building or editable):
        return
    mim = ROOT / 'mmmeta' / '.mim'
    for name in MIM_FILES:
        src, dst = ROOT / name, mim / name
        if not src.exists():
            continue
        if dst.is_symlink() or dst.is_file():
            dst.unlink()
        elif dst.is_dir():
            shutil.rmtree(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if editable:
            os.symlink(os.path.relpath(src, dst.parent), dst)
        elif src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


class BuildWithStartupHook(build_py):
    """Also put the start-up hook (a .pth file) at the top of the wheel, i.e. in site-packages."""

    def run(self):
        super().run()
        self.copy_file(str(ROOT / STARTUP_PTH), os.path.join(self.build_lib, STARTUP_PTH))


# Ranges, not pins, so mmmeta installs into an existing OpenMMLab environment without replacing
# its packages. The lower ends are the tested releases' minor series (constraints.txt holds the
# exact tested set, which tools/install.sh installs); the upper ends are the next releases that
# mmdet/mmseg/mmpretrain themselves refuse or that changed APIs mmmeta uses.
# torch is a floor: users bring the build that matches their CUDA.
# mmcv is installed (compiled with ops) by tools/install.sh before this package.
RUNTIME = ['torch>=2.0', 'mmengine>=0.10.0,<1.0.0', 'numpy', 'safetensors>=0.4']
EXTRAS = {
    'mm': ['mmcv>=2.0.0,<2.2.0', 'mmdet>=3.3.0,<3.4.0', 'mmsegmentation>=1.2.0,<1.3.0',
           'mmpretrain>=1.2.0,<1.3.0', 'pycocotools>=2.0.8', 'ftfy', 'regex', 'opencv-python',
           'matplotlib'],
    'tests': ['pytest>=7', 'timm>=1.0', 'openmim>=0.3.9', 'ruff>=0.17.5,<0.18'],
}
EXTRAS['tests'] = EXTRAS['tests'] + EXTRAS['mm']

add_mim_extension()
setup(
    name='mmmeta',
    version=version(),
    description='MetaFormer backbones (PoolFormer and family) for OpenMMLab dense prediction',
    long_description=(ROOT / 'README.md').read_text() if (ROOT / 'README.md').exists() else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.8',
    packages=find_packages(include=['mmmeta', 'mmmeta.*']),
    py_modules=['_mmmeta_safe_load'],
    package_data={'mmmeta': ['.mim/**/*', '.mim/*']},
    include_package_data=False,
    install_requires=RUNTIME,
    extras_require=EXTRAS,
    entry_points={'console_scripts': [
        'mmmeta-train=mmmeta.train:main',
        'mmmeta-test=mmmeta.test:main',
        'mmmeta-infer=mmmeta.infer:main',
        'mmmeta-demo-data=mmmeta.make_demo_data:main',
    ]},
    cmdclass={'build_py': BuildWithStartupHook},
)
