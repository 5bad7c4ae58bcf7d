"""``LoadImageFromFileOrSkip``: mmcv's ``LoadImageFromFile`` that skips an unreadable image on
purpose (with a warning naming the file) instead of stopping training.

By default a corrupt image stops training with one sentence naming the file (see
:func:`mmmeta.cli.explain`). mmcv's own ``ignore_empty=True`` covers missing files only: a file
that exists but does not decode still fails its ``assert img is not None``. In a training
pipeline, use ``dict(type='LoadImageFromFileOrSkip')`` where ``LoadImageFromFile`` was: the
dataset then draws another sample (mmengine's ``BaseDataset`` does that when a training
pipeline returns None). Registered in mmengine's root ``TRANSFORMS`` registry, so every
library's pipelines find it.
"""
from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log
from mmengine.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadImageFromFileOrSkip(LoadImageFromFile):
    """``LoadImageFromFile`` (same arguments) that returns None for an unreadable image.

    Each skipped file is logged once, as a warning with its path.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.skipped = set()

    def transform(self, results: dict):
        try:
            out = super().transform(results)
        except Exception as err:  # missing file, unreadable bytes, failed decode
            out, reason = None, f'{type(err).__name__}: {err}'
        else:
            reason = 'it does not exist' if out is None else ''
        if out is None:
            path = results.get('img_path')
            if path not in self.skipped:
                self.skipped.add(path)
                print_log(f'skipping unreadable image {path} ({reason.splitlines()[0]}); '
                          'LoadImageFromFileOrSkip draws another sample instead.',
                          logger='current', level=30)
        return out
