"""Pictures in, pictures out, for ``mmmeta-infer``: what INPUT names (an image, a folder of
images, a video), its frames as BGR arrays, and one annotated video per input video.

Bad input stops with one sentence that says the fix (:func:`mmmeta.cli.fail`): a missing path,
an extension that is neither an image nor a video, an empty folder, an undecodable file.
"""
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .cli import fail

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')
Frame = Tuple[str, np.ndarray, dict]  # (picture name, BGR image, JSON fields of its source)


def _kind(path: str) -> Optional[str]:
    ext = osp.splitext(path)[1].lower()
    return 'image' if ext in IMAGE_EXTS else 'video' if ext in VIDEO_EXTS else None


def collect_inputs(path: str) -> List[str]:
    """The files INPUT names: itself (an image or a video), or the images in a folder."""
    if osp.isdir(path):
        found = sorted(osp.join(path, n) for n in os.listdir(path)
                       if _kind(n) == 'image' and osp.isfile(osp.join(path, n)))
        if not found:
            fail(f'folder {path} holds no images ({", ".join(IMAGE_EXTS)}); point INPUT at a '
                 'folder of images, one image or a video.')
        return found
    if not osp.exists(path):
        fail(f'input not found: {path!r} (current directory: {os.getcwd()}); give an image, a '
             'folder of images or a video.')
    if _kind(path) is None:
        fail(f'{path} is not an image or a video this tool reads (extension '
             f'{osp.splitext(path)[1] or "none"!r}); give a file ending in '
             f'{", ".join(IMAGE_EXTS + VIDEO_EXTS)}, or a folder of images.')
    return [path]


def read_image(path: str) -> np.ndarray:
    import mmcv
    img = mmcv.imread(path)
    if img is None:
        fail(f'cannot decode image {path} (corrupt, truncated or not an image): replace it or '
             'leave it out.')
    return img


def video_frames(path: str) -> Iterator[Frame]:
    import cv2
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        fail(f'cannot open video {path} (corrupt, or a codec OpenCV lacks): convert it, e.g. '
             f'`ffmpeg -i {path} out.mp4`, or give its frames as a folder of images.')
    stem = osp.splitext(osp.basename(path))[0]
    index = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield f'{stem}_{index:06d}.jpg', frame, dict(input=path, frame=index)
            index += 1
    finally:
        cap.release()
    if index == 0:
        fail(f'video {path} has no frames OpenCV can decode: convert it, e.g. '
             f'`ffmpeg -i {path} out.mp4`.')


def frames(sources: Sequence[str]) -> Iterator[Frame]:
    """Every picture to predict on, in order: images, then each video's frames."""
    for path in sources:
        if _kind(path) == 'video':
            yield from video_frames(path)
        else:
            yield osp.basename(path), read_image(path), dict(input=path)


def count_pictures(sources: Sequence[str]) -> int:
    """For the progress bar: images plus the frame counts videos declare."""
    import cv2
    total = 0
    for path in sources:
        if _kind(path) == 'video':
            cap = cv2.VideoCapture(path)
            total += max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
            cap.release()
        else:
            total += 1
    return total


class VideoWriters:
    """One annotated video per input video, next to the pictures (``vis/<video>.mp4``)."""

    def __init__(self, vis_dir: str) -> None:
        self.vis_dir = vis_dir
        self.open: Dict[str, object] = {}
        self.written: List[str] = []

    def add(self, source: str, bgr: np.ndarray) -> None:
        import cv2
        if source not in self.open:
            stem = osp.splitext(osp.basename(source))[0]
            out = osp.join(self.vis_dir, f'{stem}.mp4')
            cap = cv2.VideoCapture(source)
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            cap.release()
            h, w = bgr.shape[:2]
            self.open[source] = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
            self.written.append(out)
        self.open[source].write(bgr)

    def close(self) -> None:
        for writer in self.open.values():
            writer.release()
        self.open.clear()


def batches(items: Iterator[Frame], size: int) -> Iterator[List[Frame]]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
