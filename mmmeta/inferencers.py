"""One interface over the upstream inferencers (mmdet ``DetInferencer``, mmseg
``MMSegInferencer``, mmpretrain ``ImageClassificationInferencer``), for ``mmmeta-infer``.

The three differ in constructor arguments, in what ``__call__`` returns and in how their
``visualize`` treats an array (they take it as RGB while their pipelines read it as BGR), so
:mod:`mmmeta.infer` only uses their model, pipeline and visualizer through a :class:`Task`:
``predict`` (BGR arrays in, data samples out), ``draw`` (writes the picture with the
prediction, returns it as RGB) and ``summarize`` (a JSON-ready dict of one prediction).
"""
from typing import Any, Dict, List, Sequence

import numpy as np


class Task:
    """What one library's inferencer needs around it; built by :func:`build_task`."""

    kind = ''

    def __init__(self, inferencer, score_thr: float = 0.3, topk: int = 5) -> None:
        self.inferencer = inferencer
        self.score_thr = score_thr
        self.topk = topk

    @property
    def classes(self) -> List[str]:
        meta = getattr(self.inferencer.model, 'dataset_meta', None) or {}
        return list(meta.get('classes') or [])

    def class_name(self, label: int) -> str:
        return self.classes[label] if 0 <= label < len(self.classes) else str(label)

    def predict(self, images: Sequence[np.ndarray], batch_size: int) -> list:
        """Data samples for BGR images, through the inferencer's own pipeline and model."""
        preds = []
        for batch in self.inferencer.preprocess(list(images), batch_size=batch_size):
            data = batch if isinstance(batch, dict) else batch[-1]  # mmdet: [inputs, data]
            preds.extend(self.inferencer.forward(data))
        return preds

    def draw(self, rgb: np.ndarray, pred, out_file: str) -> np.ndarray:
        """Paint ``pred`` on ``rgb`` into ``out_file`` (given, so that the visualizer does not
        also store the picture in its backends' save_dir) and return the painted RGB."""
        raise NotImplementedError

    def summarize(self, pred) -> Dict[str, Any]:
        raise NotImplementedError


class DetectionTask(Task):
    kind = 'detection'

    def draw(self, rgb, pred, out_file):
        vis = self.inferencer.visualizer
        vis.add_datasample('image', rgb, pred, draw_gt=False, pred_score_thr=self.score_thr,
                           out_file=out_file)
        return vis.get_image()

    def summarize(self, pred):
        inst = pred.pred_instances
        keep = (inst.scores >= self.score_thr).nonzero().flatten().tolist()
        masks = inst.get('masks', None)
        found = []
        for i in keep:
            label = int(inst.labels[i])
            item = {'label': label, 'class': self.class_name(label),
                    'score': round(float(inst.scores[i]), 4),
                    'bbox': [round(float(v), 1) for v in inst.bboxes[i]]}
            if masks is not None:
                item['mask_area'] = int(masks[i].sum())
            found.append(item)
        return dict(instances=found)


class SegmentationTask(Task):
    kind = 'segmentation'

    def draw(self, rgb, pred, out_file):
        vis = self.inferencer.visualizer
        vis.add_datasample('image', rgb, pred, draw_gt=False, with_labels=True,
                           out_file=out_file)
        return vis.get_image()

    def summarize(self, pred):
        seg = pred.pred_sem_seg.data[0].cpu().numpy()
        labels, counts = np.unique(seg, return_counts=True)
        order = np.argsort(-counts)
        return dict(segments=[
            {'label': int(labels[i]), 'class': self.class_name(int(labels[i])),
             'pixels': int(counts[i]), 'fraction': round(float(counts[i]) / seg.size, 4)}
            for i in order])


class ClassificationTask(Task):
    kind = 'classification'
    MIN_SIDE = 224  # text of the drawn labels needs room; small images are enlarged

    @property
    def classes(self):
        return list(self.inferencer.classes or [])

    def draw(self, rgb, pred, out_file):
        from mmpretrain.visualization import UniversalVisualizer
        if self.inferencer.visualizer is None:
            self.inferencer.visualizer = UniversalVisualizer(name=f'mmmeta-infer-{id(self)}')
        resize = self.MIN_SIDE if min(rgb.shape[:2]) < self.MIN_SIDE else None
        return self.inferencer.visualizer.visualize_cls(
            rgb, pred, classes=self.classes or None, draw_gt=False, resize=resize,
            out_file=out_file)

    def summarize(self, pred):
        scores = pred.pred_score.detach().cpu()
        top = scores.topk(min(self.topk, scores.numel()))
        return dict(topk=[
            {'label': int(i), 'class': self.class_name(int(i)), 'score': round(float(s), 4)}
            for s, i in zip(top.values, top.indices)])


def build_task(lib: str, cfg, checkpoint: str, device: str, score_thr: float = 0.3,
               topk: int = 5) -> Task:
    """The inferencer of ``lib`` (the config's default_scope) with its :class:`Task`."""
    if lib == 'mmdet':
        from mmdet.apis import DetInferencer
        return DetectionTask(DetInferencer(model=cfg, weights=checkpoint, device=device,
                                           scope='mmdet', show_progress=False),
                             score_thr, topk)
    if lib == 'mmseg':
        from mmseg.apis import MMSegInferencer
        inferencer = MMSegInferencer(model=cfg, weights=checkpoint, device=device, scope='mmseg')
        inferencer.visualizer.set_dataset_meta(**inferencer.model.dataset_meta)
        return SegmentationTask(inferencer, score_thr, topk)
    from mmpretrain.apis import ImageClassificationInferencer
    return ClassificationTask(ImageClassificationInferencer(model=cfg, pretrained=checkpoint,
                                                            device=device),
                              score_thr, topk)
