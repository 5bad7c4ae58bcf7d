"""mmmeta.infer (``tools/infer.py``, ``mmmeta-infer``): a folder of images and a video through
the RetinaNet demo model (pictures, annotated video, one JSON), and one sentence with the fix
for bad input. Semantic FPN and the classifier run through it in tests/test_demo_tool.py.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmmeta import infer

ROOT = Path(__file__).resolve().parents[1]
RETINANET = str(ROOT / 'configs' / 'demo' / 'retinanet_poolformer_s12_demo.py')
TINY = dict(model=dict(backbone=dict(depths=[1, 1, 1, 1], init_cfg=None)))
CLASSES = ('circle', 'square', 'triangle', 'star')


def error_of(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        infer.main(argv)
    return str(exc.value.code) + capsys.readouterr().err


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    """A tiny RetinaNet of the demo config as mmengine saves one (weights, dataset meta)."""
    from mmmeta.launch import init_library, load_config
    cfg = load_config(RETINANET)
    cfg.merge_from_dict(TINY)
    init_library(cfg)
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=CLASSES))), path)
    return str(path)


@pytest.fixture(scope='module')
def inputs(tmp_path_factory) -> Path:
    """Two images in a folder and a 3-frame video."""
    import cv2
    root = tmp_path_factory.mktemp('inputs')
    (root / 'images').mkdir()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(3)]
    for i in range(2):
        cv2.imwrite(str(root / 'images' / f'img{i}.jpg'), frames[i])
    writer = cv2.VideoWriter(str(root / 'clip.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 5,
                             (128, 96))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return root


@pytest.mark.slow
def test_folder_and_video(checkpoint, inputs, tmp_path, capsys):
    options = ['--cfg-options', 'model.backbone.depths=[1,1,1,1]',
               'model.test_cfg.score_thr=0.0']
    out = tmp_path / 'out'
    status = infer.main([RETINANET, checkpoint, str(inputs / 'images'), '--out-dir', str(out),
                         '--device', 'cpu', '--score-thr', '0.0', '--batch-size', '2', *options])
    assert status == 0  # what a console script hands to sys.exit
    result = infer.run_infer([RETINANET, checkpoint, str(inputs / 'clip.mp4'), '--out-dir',
                         str(out / 'video'), '--device', 'cpu', '--score-thr', '0.0',
                         *options])
    printed = capsys.readouterr().out
    assert sorted(p.name for p in (out / 'vis').iterdir()) == ['img0.jpg', 'img1.jpg']
    saved = json.loads((out / 'predictions.json').read_text())
    assert saved['task'] == 'detection' and saved['classes'] == list(CLASSES)
    first = saved['results'][0]
    assert first['input'].endswith('img0.jpg') and (first['height'], first['width']) == (96, 128)
    box = first['instances'][0]  # score_thr 0: every detection is listed
    assert box['class'] == CLASSES[box['label']] and len(box['bbox']) == 4
    # the video: a picture per frame, the annotated video next to them, frames in the JSON
    assert [r['frame'] for r in result['results']] == [0, 1, 2]
    assert result['videos'] == [str(out / 'video' / 'vis' / 'clip.mp4')]
    assert Path(result['videos'][0]).stat().st_size > 0
    assert (out / 'video' / 'vis' / 'clip_000002.jpg').is_file()
    assert f'predictions  {out / "video" / "predictions.json"}' in printed


@pytest.mark.slow
@pytest.mark.parametrize('make, expected', [
    (lambda d: d / 'missing.jpg', 'input not found'),
    (lambda d: d / 'notes.txt', "not an image or a video this tool reads (extension '.txt')"),
    (lambda d: d, 'holds no images'),
    (lambda d: d / 'broken.jpg', 'cannot decode image'),
])
def test_bad_input_is_one_sentence(checkpoint, tmp_path, capsys, make, expected):
    (tmp_path / 'notes.txt').write_text('x')
    if expected == 'cannot decode image':
        (tmp_path / 'broken.jpg').write_bytes(b'not a jpeg')
    argv = [RETINANET, checkpoint, str(make(tmp_path)), '--out-dir', str(tmp_path / 'o'),
            '--cfg-options', 'model.backbone.depths=[1,1,1,1]']
    message = error_of(argv, capsys)
    assert expected in message and 'Traceback' not in message


@pytest.mark.slow
def test_checkpoint_of_another_model_is_refused(tmp_path, capsys):
    """The demo backbone file is no detector: one sentence with counts and the fix."""
    import cv2
    image = tmp_path / 'a.jpg'
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    backbone = str(ROOT / 'checkpoints' / 'demo' / 'poolformer_s12_shapes.safetensors')
    message = error_of([RETINANET, backbone, str(image), '--out-dir', str(tmp_path / 'o')],
                       capsys)
    assert 'fills' in message and 'Use the config the checkpoint was trained with' in message
    assert 'Traceback' not in message


@pytest.mark.unit
def test_missing_config_or_checkpoint_is_one_sentence(tmp_path, capsys):
    import cv2
    image = str(tmp_path / 'a.jpg')
    cv2.imwrite(image, np.zeros((32, 32, 3), np.uint8))
    message = error_of([str(tmp_path / 'nope.py'), 'x.pth', image], capsys)
    assert 'config file not found' in message
    message = error_of([RETINANET, str(tmp_path / 'nope.pth'), image], capsys)
    assert 'checkpoint file not found' in message and 'Traceback' not in message


@pytest.mark.unit
def test_unwritable_out_dir_is_one_sentence(tmp_path, capsys):
    import cv2
    image = str(tmp_path / 'a.jpg')
    cv2.imwrite(image, np.zeros((32, 32, 3), np.uint8))
    (tmp_path / 'file').write_text('x')
    message = error_of([RETINANET, 'x.pth', image, '--out-dir', str(tmp_path / 'file' / 'o')],
                       capsys)
    assert 'cannot write to' in message and 'choose a writable directory with --out-dir' in message


@pytest.mark.unit
@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without a GPU')
def test_gpu_asked_for_without_one_is_one_sentence(tmp_path, capsys):
    import cv2
    image = str(tmp_path / 'a.jpg')
    cv2.imwrite(image, np.zeros((32, 32, 3), np.uint8))
    message = error_of([RETINANET, 'x.pth', image, '--device', 'cuda'], capsys)
    assert 'sees no CUDA GPU' in message and 'use --device cpu' in message
