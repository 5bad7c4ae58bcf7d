"""Helpers shared by the tests of mmmeta.launch (tests/test_launch_*.py): configs, datasets and
checkpoints written into ``tmp_path``, and the config a tool would run with given arguments.

Import the fixtures by name into a test module (``from launch_helpers import det_cfg_file``);
pytest finds them there.
"""
import json
import textwrap
from pathlib import Path

import torch
from mmengine.model import BaseModel
from torch.utils.data import Dataset

import mmmeta  # noqa: F401  (applies mmmeta.compat)
from mmmeta.launch import device
from mmmeta.launch.args import (
    apply_test_args,
    apply_train_args,
    build_test_parser,
    build_train_parser,
)
from mmmeta.launch.configs import load_config

from helpers import ROOT  # noqa: F401  (launch tests import it from here)


def det_config_text(data_root: str, tta: bool = True) -> str:
    text = f"""
    default_scope = 'mmdet'
    data_root = {data_root!r}
    norm_cfg = dict(type='SyncBN', requires_grad=True)
    model = dict(
        type='RetinaNet',
        backbone=dict(type='MetaFormer', arch='poolformer_s12', norm_cfg=norm_cfg),
        neck=dict(type='FPN', in_channels=[64, 128, 320, 512], out_channels=256,
                  norm_cfg=dict(type='SyncBN')),
        bbox_head=dict(type='RetinaHead', num_classes=2,
                       stacked=[dict(norm_cfg=dict(type='MMSyncBN'))]))
    optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4))
    auto_scale_lr = dict(enable=False, base_batch_size=16)
    train_dataloader = dict(
        batch_size=2,
        dataset=dict(type='CocoDataset', data_root=data_root,
                     ann_file='annotations/train.json', data_prefix=dict(img='train/'),
                     pipeline=[]))
    val_dataloader = dict(
        batch_size=1,
        dataset=dict(type='CocoDataset', data_root=data_root,
                     ann_file='annotations/val.json', data_prefix=dict(img='val/'),
                     pipeline=[dict(type='LoadImageFromFile')]))
    test_dataloader = val_dataloader
    train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    val_cfg = dict(type='ValLoop')
    test_cfg = dict(type='TestLoop')
    val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/val.json')
    test_evaluator = val_evaluator
    default_hooks = dict(visualization=dict(type='DetVisualizationHook'))
    visualizer = dict(type='DetLocalVisualizer', name='visualizer')
    env_cfg = dict(dist_cfg=dict(backend='nccl'))
    """
    if tta:
        text += """
    tta_model = dict(type='DetTTAModel',
                     tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
    tta_pipeline = [dict(type='LoadImageFromFile'),
                    dict(type='TestTimeAug', transforms=[[dict(type='RandomFlip', prob=1.)]])]
    """
    return textwrap.dedent(text)


def seg_config_text(data_root: str) -> str:
    return textwrap.dedent(f"""
    default_scope = 'mmseg'
    data_root = {data_root!r}
    model = dict(
        type='EncoderDecoder',
        backbone=dict(type='MetaFormer', arch='poolformer_s12'),
        decode_head=dict(type='FPNHead', norm_cfg=dict(type='SyncBN', requires_grad=True)))
    optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4))
    train_dataloader = dict(
        batch_size=2,
        dataset=dict(type='ADE20KDataset', data_root=data_root,
                     data_prefix=dict(img_path='images/training',
                                      seg_map_path='annotations/training'),
                     pipeline=[]))
    test_dataloader = dict(
        batch_size=1,
        dataset=dict(type='ADE20KDataset', data_root=data_root,
                     data_prefix=dict(img_path='images/validation',
                                      seg_map_path='annotations/validation'),
                     pipeline=[dict(type='LoadImageFromFile')]))
    test_cfg = dict(type='TestLoop')
    test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
    default_hooks = dict(visualization=dict(type='SegVisualizationHook'))
    visualizer = dict(type='SegLocalVisualizer', name='visualizer')
    tta_model = dict(type='SegTTAModel')
    tta_pipeline = [dict(type='LoadImageFromFile'),
                    dict(type='TestTimeAug', transforms=[[dict(type='RandomFlip', prob=1.)]])]
    """)


COCO = dict(images=[dict(id=1, file_name='a.jpg', width=8, height=8)],
            annotations=[dict(id=1, image_id=1, category_id=1, bbox=[0, 0, 4, 4], area=16,
                              iscrowd=0)],
            categories=[dict(id=1, name='thing')])


def make_coco(root: Path) -> Path:
    (root / 'annotations').mkdir(parents=True)
    for split in ('train', 'val'):
        (root / split).mkdir()
        (root / split / 'a.jpg').write_bytes(b'')  # the launcher counts missing image files
        (root / 'annotations' / f'{split}.json').write_text(json.dumps(COCO))
    return root


def make_ade(root: Path) -> Path:
    for sub, name in (('images', 'a.jpg'), ('annotations', 'a.png')):
        for split in ('training', 'validation'):
            (root / sub / split).mkdir(parents=True)
            (root / sub / split / name).write_bytes(b'')  # the launcher counts image files
    return root


def set_accelerator(monkeypatch, available: bool) -> None:
    """Behave as on a machine with (or without) an accelerator, whatever this one has."""
    monkeypatch.setattr(device, 'accelerator_available', lambda: available)


def config_for_train(argv):
    """The config tools/train.py would run with these arguments (not run)."""
    args = build_train_parser().parse_args([str(a) for a in argv])
    return apply_train_args(load_config(args.config), args)


def config_for_test(argv):
    """The config tools/test.py would run with these arguments (not run)."""
    args = build_test_parser().parse_args([str(a) for a in argv])
    return apply_test_args(load_config(args.config), args)


def error_of(excinfo) -> str:
    return str(excinfo.value.code)


class ToyModel(BaseModel):
    """A linear model that trains in milliseconds (mode='loss': squared error)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels, mode='tensor'):
        out = self.linear(inputs)
        return dict(loss=((out - labels) ** 2).mean()) if mode == 'loss' else out


class ToyDataset(Dataset):
    """``length`` samples for ToyModel."""

    def __init__(self, length: int = 4):
        self.length = length

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        return dict(inputs=torch.full((2,), float(i)), labels=torch.ones(1))
