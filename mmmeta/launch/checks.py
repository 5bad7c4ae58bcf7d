"""Checks on the files a run needs, before anything expensive happens: the checkpoint to load or
resume from, the pretrained backbone, the work directory; :func:`check_run` runs them all
(with the dataset checks of :mod:`.data_checks`).

Reliability (issue #13): ``--resume`` falls back to the newest complete checkpoint when
``last_checkpoint`` names a missing or partial file, and says when there is nothing to resume.
"""
import logging
import os
import os.path as osp
import tempfile
from typing import Optional, Tuple

from mmengine.config import Config
from mmengine.logging import print_log

from ..cli import fail
from ..download import DownloadError, fetch, is_url
from ..files import checkpoint_problem, checkpoints_in
from .configs import is_remote
from .data_checks import check_datasets
from .device import check_amp_supported


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------
def _missing_local_file(path: Optional[str]) -> bool:
    """A local path that names no file (unset paths and URLs are not checked)."""
    return bool(path) and not is_remote(path) and not osp.isfile(path)


def check_checkpoint(path: Optional[str], source: str) -> None:
    """Fail clearly when a local checkpoint file does not exist (URLs are not checked)."""
    if not _missing_local_file(path):
        return
    fail(f'checkpoint file not found: {path!r} (given by {source}; current directory: '
         f'{os.getcwd()}). Check the path, or train first with tools/train.py, which writes '
         'checkpoints into the work directory (work_dirs/<config name>/ by default).')


def check_complete(path: str, source: str) -> None:
    """Fail clearly when a local checkpoint file is empty, truncated or not a checkpoint."""
    problem = checkpoint_problem(path)
    if problem is None:
        return
    others = [p for p in checkpoints_in(osp.dirname(osp.abspath(path)))
              if checkpoint_problem(p) is None]
    fix = (f'resume from {others[0]} (the newest complete checkpoint next to it), or use '
           '`--resume` without a path to pick it automatically') if others else \
        'use another checkpoint'
    fail(f'cannot use checkpoint {path} ({source}): {problem}; {fix}.')


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], Optional[str]]:
    """(checkpoint to resume from, note). The file ``work_dir/last_checkpoint`` names, if it
    is complete; else the newest complete ``epoch_N.pth``/``iter_N.pth`` in ``work_dir``, with
    a note saying why (None when there is none)."""
    marker = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(marker):
        with open(marker) as f:
            named = f.read().strip() or None
    if named:
        problem = checkpoint_problem(named)
        if problem is None:
            return named, None
        why = f'{marker} names {named}, but {problem}'
    else:
        why = f'there is no {marker}'
    for candidate in checkpoints_in(work_dir):
        if osp.abspath(candidate) != osp.abspath(named or '') and \
                checkpoint_problem(candidate) is None:
            return candidate, (f'--resume: {why}; resuming from the newest complete '
                               f'checkpoint, {candidate}, instead.')
    return None, why


def resolve_auto_resume(cfg: Config) -> None:
    """``--resume`` without a path: pick the checkpoint now (see find_resume_checkpoint) and
    say so; with nothing to resume, say that training starts from the beginning."""
    path, note = find_resume_checkpoint(cfg.work_dir)
    if path is None:
        print_log(f'--resume: nothing to resume in {cfg.work_dir} ({note}, and no complete '
                  'epoch_N.pth / iter_N.pth checkpoint there); training starts from the '
                  'beginning.', logger='current', level=logging.WARNING)
        cfg.resume = False
        return
    if note:
        print_log(note, logger='current', level=logging.WARNING)
    else:  # mmengine's wording, as when it picks the file itself
        print_log(f'Auto resumed from the latest checkpoint {path}.', logger='current')
    cfg.load_from = path


# ----------------------------------------------------------------------------------------------
# Pretrained weights, work directory, everything before the Runner
# ----------------------------------------------------------------------------------------------
def check_pretrained(cfg: Config) -> None:
    """Fail clearly when the backbone's ``init_cfg`` names a local weight file that is not
    there (training would otherwise stop with a traceback inside ``init_weights``). An http(s)
    URL is fetched now, so a failed download is one sentence before any model is built."""
    backbone = cfg.get('model', {}).get('backbone', {}) or {}
    init_cfg = backbone.get('init_cfg') if isinstance(backbone, dict) else None
    if not isinstance(init_cfg, dict) or init_cfg.get('type') != 'Pretrained':
        return
    path = init_cfg.get('checkpoint')
    if is_url(path):
        try:
            fetch(path)
        except DownloadError as err:
            fail(str(err))
        return
    if not _missing_local_file(path):
        return
    from ..make_demo_data import demo_backbone_fix  # the demo's own files, read when failing
    fix = demo_backbone_fix(path) or (
        'Put the pretrained file there (README, "Pretrained weights"), point '
        'model.backbone.init_cfg.checkpoint at it, or pass --cfg-options '
        'model.backbone.init_cfg=None to train from random weights.')
    fail(f'pretrained backbone weights not found: {path!r} (model.backbone.init_cfg.checkpoint; '
         f'current directory: {os.getcwd()}). {fix}')


def check_work_dir(work_dir: str) -> None:
    """Fail clearly when the work directory cannot be created or written to."""
    try:
        os.makedirs(work_dir, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=work_dir, prefix='.write-test-')
        probe.close()
    except OSError as err:
        fail(f'cannot write to the work directory {work_dir!r} ({err.strerror or err}); '
             'choose a writable directory with --work-dir.')


def check_run(cfg: Config, phase: str) -> None:
    """All pre-Runner checks for ``phase`` ('train' or 'test'): AMP device, checkpoint and
    dataset paths."""
    if phase == 'train':  # testing never builds the optimizer wrapper nor runs init_weights
        check_amp_supported(cfg)
        check_pretrained(cfg)
    check_checkpoint(cfg.get('load_from', None), '`load_from`')
    check_datasets(cfg, phase)

