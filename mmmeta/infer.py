"""``mmmeta-infer`` / ``tools/infer.py``: run a trained model on an image, a folder of images
or a video, and write pictures with the predictions drawn plus one JSON of predictions.

    python tools/infer.py CONFIG CHECKPOINT INPUT [--out-dir DIR] [--device cpu]
                          [--score-thr 0.3] [--batch-size N]

The library comes from the config's ``default_scope`` (mmdet, mmseg or mmpretrain) and the
model from its upstream inferencer (:mod:`mmmeta.inferencers`); inputs and videos are
:mod:`mmmeta.media`. Before that, the checkpoint
is read by mmmeta's safe loader and must fill the model the config builds (as
``tools/test.py``), so a wrong config/checkpoint pair is one sentence with the fix instead of
predictions of a randomly initialised head. Outputs: ``OUT/vis/<image name>`` (video frames
``OUT/vis/<video>_<frame>.jpg`` and the annotated ``OUT/vis/<video>.mp4``) and
``OUT/predictions.json``.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from .cli import CfgOptionsAction, fail, run_tool
from .files import load_checkpoint_file
from .inferencers import build_task
from .launch import backbone_cfg, check_checkpoint, init_library, library_registry, load_config
from .load_check import check_checkpoint_fits, file_state
from .media import VideoWriters, batches, collect_inputs, count_pictures, frames


def load_checked_config(config: str, checkpoint: str, cfg_options: Optional[dict] = None,
                        allow_partial: bool = False):
    """(config, library): the config with ``cfg_options`` merged and no pretrained-backbone
    download, after checking that ``checkpoint`` fills the model it builds."""
    cfg = load_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    check_checkpoint(checkpoint, 'the CHECKPOINT argument')
    state = file_state(load_checkpoint_file(checkpoint, source='CHECKPOINT'))
    backbone = backbone_cfg(cfg)
    if backbone.get('init_cfg'):
        backbone['init_cfg'] = None  # the checkpoint holds the backbone too
    lib = init_library(cfg)
    model = library_registry(lib, 'MODELS').build(cfg.model)
    report = check_checkpoint_fits(model, state, checkpoint, 'CHECKPOINT', allow_partial)
    print(report, flush=True)
    return cfg, lib


def pick_device(device: Optional[str]) -> str:
    """``device``, or cuda when torch sees a GPU, else cpu; a GPU asked for but not there is
    one sentence (torch would fail deep inside the model's ``.to()``)."""
    import torch
    if device is None:
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    if device.startswith('cuda') and not torch.cuda.is_available():
        fail(f'--device {device}: torch {torch.__version__} sees no CUDA GPU on this machine; '
             'use --device cpu (or leave --device out).')
    return device


def make_out_dir(out_dir: str) -> str:
    """``out_dir/vis``, created; an unwritable place is one sentence."""
    vis_dir = osp.join(out_dir, 'vis')
    try:
        os.makedirs(vis_dir, exist_ok=True)
    except OSError as err:
        fail(f'cannot write to {vis_dir!r} ({err.strerror or err}); choose a writable '
             'directory with --out-dir.')
    return vis_dir


def predict_all(task, sources: Sequence[str], vis_dir: str,
                batch_size: int) -> Tuple[List[dict], List[str]]:
    """Predict on every picture of ``sources`` in batches, write the drawn pictures (and
    videos) into ``vis_dir``; returns the JSON records and the videos written."""
    import mmcv
    from mmengine.utils import ProgressBar
    total = count_pictures(sources)
    # file: mmengine's default is the sys.stdout of import time
    bar = ProgressBar(total, file=sys.stdout) if total > 1 or len(sources) > 1 else None
    videos, records = VideoWriters(vis_dir), []
    try:
        for batch in batches(frames(sources), batch_size):
            preds = task.predict([img for _, img, _ in batch], batch_size)
            for (name, img, fields), pred in zip(batch, preds):
                drawn = task.draw(mmcv.bgr2rgb(img), pred, osp.join(vis_dir, name))
                if 'frame' in fields:
                    videos.add(fields['input'], mmcv.rgb2bgr(drawn))
                records.append(dict(fields, vis=osp.join('vis', name),
                                    height=img.shape[0], width=img.shape[1],
                                    **task.summarize(pred)))
                if bar is not None:
                    bar.update()
    finally:
        videos.close()
        if bar is not None:
            print(flush=True)
    return records, videos.written


def infer(config: str, checkpoint: str, sources: Sequence[str], out_dir: str = 'outputs',
          device: Optional[str] = None, score_thr: float = 0.3, batch_size: int = 1,
          topk: int = 5, cfg_options: Optional[dict] = None,
          allow_partial: bool = False) -> Dict[str, object]:
    """Predict on ``sources`` (image and video paths), write ``out_dir/vis/`` and
    ``out_dir/predictions.json``; returns where everything went and the records."""
    if batch_size < 1:
        fail(f'--batch-size must be 1 or more, not {batch_size}.')
    device = pick_device(device)
    vis_dir = make_out_dir(out_dir)
    cfg, lib = load_checked_config(config, checkpoint, cfg_options, allow_partial)
    task = build_task(lib, cfg, checkpoint, device, score_thr, topk)
    records, videos = predict_all(task, sources, vis_dir, batch_size)
    result = dict(task=task.kind, config=config, checkpoint=checkpoint, classes=task.classes,
                  score_thr=score_thr if task.kind == 'detection' else None, results=records)
    json_path = osp.join(out_dir, 'predictions.json')
    with open(json_path, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'{task.kind} predictions for {len(records)} picture(s) of {len(sources)} input(s):')
    print(f'  pictures     {vis_dir}/')
    for video in videos:
        print(f'  video        {video}')
    print(f'  predictions  {json_path}', flush=True)
    return dict(vis_dir=vis_dir, json=json_path, videos=videos, **result)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Predict with a trained mmdet / mmseg / mmpretrain model: pictures with '
        'the predictions drawn (OUT/vis/) and one JSON (OUT/predictions.json).')
    parser.add_argument('config', help='the config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='checkpoint file (e.g. work_dirs/NAME/iter_N.pth)')
    parser.add_argument('input', help='an image, a folder of images or a video')
    parser.add_argument('--out-dir', default='outputs', help='where to write (default: outputs)')
    parser.add_argument('--device', default=None, help='cpu, cuda, cuda:1 ... (default: cuda '
                        'when available, else cpu)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: boxes below this score are not drawn nor listed')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--topk', type=int, default=5, help='classification: classes listed')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, key=value (as tools/test.py)')
    parser.add_argument('--allow-partial', action='store_true',
                        help='use a checkpoint that fills only part of the model')
    parser.add_argument('--verbose', action='store_true',
                        help='show the traceback of an error as well (or MMMETA_VERBOSE=1)')
    return parser


def run_infer(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    args = build_parser().parse_args(argv)
    return infer(args.config, args.checkpoint, collect_inputs(args.input), args.out_dir,
                 args.device, args.score_thr, args.batch_size, args.topk, args.cfg_options,
                 args.allow_partial)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``mmmeta-infer`` and ``tools/infer.py`` (one-sentence errors). Returns
    the exit status, 0: a console script passes the return value to ``sys.exit``."""
    run_tool(run_infer, argv)
    return 0
