"""``tools/misc/verify_dataset.py``: the dataset checks of tools/train.py and tools/test.py on
their own, without building a model (every dataset path exists, listed images are there, COCO
files are COCO). Prints what was checked; a problem is one ``error:`` sentence, exit status 1.
"""
import argparse
from typing import List, Optional, Sequence

from ..cli import CfgOptionsAction, run_tool
from .args import CFG_OPTIONS_HELP
from .configs import load_config
from .data_checks import check_datasets

PHASES = ('train', 'test')


def build_verify_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Check the datasets a config trains and tests on, before a run')
    parser.add_argument('config', help='config file, or the name of a shipped config')
    parser.add_argument('--phase', choices=PHASES + ('both', ), default='both',
                        help='train: the training and validation data; test: the test data')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help=CFG_OPTIONS_HELP)
    return parser


def run_verify(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Check the config's datasets for each phase asked for; returns the paths checked."""
    args = build_verify_parser().parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    checked: List[str] = []
    for phase in PHASES if args.phase == 'both' else (args.phase, ):
        paths = check_datasets(cfg, phase)
        print(f'{phase}: {len(paths)} dataset path(s) checked, no problem found', flush=True)
        checked += [p for p in paths if p not in checked]
    for path in checked:
        print(f'  {path}')
    return checked


def main_verify(argv: Optional[Sequence[str]] = None) -> int:
    """tools/misc/verify_dataset.py: :func:`run_verify` with one-sentence errors."""
    run_tool(run_verify, argv)
    return 0
