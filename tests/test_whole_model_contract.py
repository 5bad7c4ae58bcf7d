"""Whole-model contract: the fused fast path is invisible to everything downstream.

Every config in ``configs/`` is built twice with identical weights, once with the backbone's
``fast=True`` (the default) and once with ``fast=False`` (the plain reference modules). Both
must give the same raw head outputs (``mode='tensor'``: for Mask R-CNN this runs RPN, NMS and
mmcv's RoIAlign on the backbone's maps) and predictions, in eval and train mode, with and
without autograd, under ``inference_mode`` and CPU bf16 autocast; every parameter with
``requires_grad`` gets the same gradient; the backbone's maps are contiguous NCHW.
Tolerance: 1e-5 relative in fp32. For the two-stage detectors the RoI heads are compared on the
same proposals (those of the reference model): proposal coordinates carry the backbone's ~1e-6
rounding noise, which RoIAlign's bilinear sampling amplifies to ~1e-4 in the RoI outputs of any
two fp32 implementations, so the end-to-end ``mode='tensor'`` outputs and the predictions of
those models are compared at 1e-3 (the channels-last bug this guards against gave 0.9).
Larger archs run with one block per stage (the fused code per block is the same; the configs'
full depths are built in test_configs.py). Every config gets the end-to-end eval comparison;
gradients, losses and autocast run on one config per head and backbone family (``FULL``): the
other configs differ from those only in the backbone's width and depth, whose fast path
gradients tests/test_arch_contract.py checks per arch.
"""
import copy

import pytest
import torch

mmdet = pytest.importorskip('mmdet')
mmseg = pytest.importorskip('mmseg')

from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402

import mmmeta  # noqa: E402,F401

import helpers  # noqa: E402
from helpers import CONFIG_DIR, CONFIGS  # noqa: E402

FULL = ['retinanet_poolformer_s12_1x_coco.py', 'mask_rcnn_poolformer_s12_1x_coco.py',
        'fpn_poolformer_s12_40k_ade20k.py', 'fpn_poolformerv2_s12_40k_ade20k.py',
        'cls_poolformer_s12_300e_in1k.py']  # the ConvFormer/CAFormer configs have no fused stage
RTOL = 1e-5
SIZE = (64, 96)  # H, W of the test images


def registry_for(scope):
    return {'mmdet': 'mmdet.registry', 'mmseg': 'mmseg.registry',
            'mmpretrain': 'mmpretrain.registry'}[scope]


def build_pair(name):
    """(fast, reference) models of config ``name`` with identical random weights."""
    import importlib
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    model_cfg = copy.deepcopy(cfg.model)
    bb = model_cfg.backbone
    bb.init_cfg = None
    if not bb.arch.endswith(('_s12', '_s18')):
        bb.depths = (1, 1, 1, 1)  # same blocks, shorter stages: keeps the suite fast
    if 'roi_head' in model_cfg:  # fewer proposals and RoIs: the same code on less work
        model_cfg.test_cfg.rpn.update(nms_pre=100, max_per_img=16)
        model_cfg.test_cfg.rcnn.max_per_img = 8
        model_cfg.train_cfg.rpn_proposal.update(nms_pre=100, max_per_img=16)
        model_cfg.train_cfg.rcnn.sampler.num = 16
    init_default_scope(cfg.default_scope)
    models = importlib.import_module(registry_for(cfg.default_scope)).MODELS
    torch.manual_seed(0)
    fast = models.build(model_cfg)
    with torch.no_grad():  # weights away from their init (layer scales 1e-6 would hide bugs)
        g = torch.Generator().manual_seed(1)
        for n, p in fast.named_parameters():
            if 'layer_scale' in n or 'res_scale' in n:
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.25)
            elif p.requires_grad and p.is_floating_point():
                p.add_(torch.randn(p.shape, generator=g) * 0.02)
    ref = copy.deepcopy(fast)
    assert fast.backbone.fast
    ref.backbone.fast = False
    return cfg.default_scope, fast, ref


def inputs_for(scope, model, n=2):
    """A preprocessed batch with ground truth for ``model``'s task."""
    g = torch.Generator().manual_seed(2)
    h, w = SIZE
    imgs = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g) for _ in range(n)]
    samples = []
    for i in range(n):
        if scope == 'mmdet':
            from mmdet.structures import DetDataSample
            from mmdet.structures.mask import BitmapMasks
            from mmengine.structures import InstanceData
            s = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                            scale_factor=(1.0, 1.0), batch_input_shape=(h, w)))
            boxes = torch.tensor([[10., 12., 60., 70.], [40., 30., 120., 90.]])
            masks = torch.zeros(2, h, w, dtype=torch.uint8)
            masks[0, 12:70, 10:60] = 1
            masks[1, 30:90, 40:120] = 1
            s.gt_instances = InstanceData(bboxes=boxes, labels=torch.tensor([i, 1]),
                                          masks=BitmapMasks(masks.numpy(), h, w))
        elif scope == 'mmseg':
            from mmseg.structures import SegDataSample
            s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
            seg = torch.randint(0, 4, (1, h, w), generator=g)
            s.gt_sem_seg = PixelData(data=seg)
        else:
            from mmpretrain.structures import DataSample
            s = DataSample().set_gt_label(i + 1)
        samples.append(s)
    return dict(inputs=imgs, data_samples=samples)


def flat(out):
    """All tensors of a (nested) model output, in a fixed order."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for k in sorted(out) for t in flat(out[k])]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in flat(o)]
    if hasattr(out, 'keys') and hasattr(out, 'get'):  # mmengine data elements
        return [t for k in sorted(out.keys()) for t in flat(out.get(k))]
    if hasattr(out, 'to_tensor'):  # BitmapMasks / PolygonMasks
        return [out.to_tensor(torch.float32, 'cpu')]
    return []


def assert_close(a, b, what, rtol=RTOL):
    helpers.assert_close(a, b, what, rtol)


def backbone_maps_are_contiguous(model):
    seen = []
    handle = model.backbone.register_forward_hook(
        lambda m, i, o: seen.extend(t.is_contiguous() for t in o))
    return seen, handle


def two_stage(model):
    return hasattr(model, 'roi_head') and hasattr(model, 'rpn_head')


def reference_proposals(ref, data):
    """The reference model's RPN proposals, shared by both models' RoI heads."""
    was_training = ref.training
    ref.eval()
    with torch.no_grad():
        x = ref.extract_feat(data['inputs'])
        props = ref.rpn_head.predict(x, data['data_samples'], rescale=False)
    ref.train(was_training)
    return props


def tensor_outputs(model, data, proposals=None):
    """Raw head outputs; with ``proposals``, the RoI heads of a two-stage detector run on them."""
    seen, handle = backbone_maps_are_contiguous(model)
    try:
        if proposals is not None:
            x = model.extract_feat(data['inputs'])
            out = flat(model.rpn_head(x)) + flat(
                model.roi_head.forward(x, copy.deepcopy(proposals), data['data_samples']))
        else:
            out = flat(model(**data, mode='tensor'))
    finally:
        handle.remove()
    assert seen and all(seen), 'backbone maps are not contiguous NCHW'
    return out


def make_pair(name):
    """(name, scope, fast, ref, batch). The batch is preprocessed as for testing (training
    preprocessors pad segmentation inputs to the 512x512 crop and mix classification labels:
    more work, nothing more proven); the loss test runs the models in train mode on it."""
    scope, fast, ref = build_pair(name)
    return name, scope, fast, ref, fast.data_preprocessor(inputs_for(scope, fast), False)


@pytest.fixture(scope='module', params=CONFIGS)
def pair(request):
    return make_pair(request.param)


@pytest.fixture(scope='module', params=FULL)
def full_pair(request):
    return make_pair(request.param)


@pytest.mark.unit
def test_full_list_is_current():
    assert set(FULL) <= set(CONFIGS)


@pytest.mark.slow
def test_eval_outputs_and_predictions(pair):
    name, scope, fast, ref, data = pair
    fast.eval(), ref.eval()
    end_to_end_rtol = 1e-3 if two_stage(ref) else RTOL
    for ctx in (torch.no_grad, torch.inference_mode):
        with ctx():
            a, b = tensor_outputs(fast, data), tensor_outputs(ref, data)
        assert len(a) == len(b) > 0
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f'{name} eval tensor output {i} ({ctx.__name__})', end_to_end_rtol)
    if two_stage(ref):
        props = reference_proposals(ref, data)
        with torch.no_grad():
            a, b = tensor_outputs(fast, data, props), tensor_outputs(ref, data, props)
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f'{name} RPN/RoI output {i} on shared proposals')
    with torch.no_grad():
        pa = fast(**data, mode='predict')
        pb = ref(**data, mode='predict')
    for sa, sb in zip(pa, pb):
        fa, fb = flat(sa), flat(sb)
        assert len(fa) == len(fb) > 0
        for i, (x, y) in enumerate(zip(fa, fb)):
            assert_close(x, y, f'{name} prediction field {i}', max(end_to_end_rtol, 1e-4))


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_gradients_equal(full_pair, mode):
    """Same head outputs with autograd on, and the same gradient for every parameter.

    In float64, where the fused algebra is exact to ~1e-15: in fp32 the heads' ReLUs turn the
    ~1e-6 rounding difference of any two implementations into gradient differences of ~1e-3
    (an activation at 0 takes the other branch), and sums with cancellation magnify those.
    Proposals come from the fp32 reference (mmcv's NMS is fp32-only) and are shared; four per
    image keep PyTorch's slow float64 convolutions of the RoI heads short."""
    name, scope, fast, ref, data = full_pair
    props = [p[:4] for p in reference_proposals(ref, data)] if two_stage(ref) else None
    for p in props or ():
        p.bboxes = p.bboxes.double()
    data = dict(data, inputs=data['inputs'].double())
    grads = []
    try:
        for model in (fast, ref):
            model.double()
            model.train(mode == 'train')
            model.zero_grad(set_to_none=True)
            torch.manual_seed(3)
            outs = tensor_outputs(model, data, props)
            g = torch.Generator().manual_seed(4)
            loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum()
                       for o in outs if o.is_floating_point())
            loss.backward()
            grads.append({n: p.grad for n, p in model.named_parameters() if p.requires_grad})
    finally:
        fast.float(), ref.float()
    missing = [n for n, gr in grads[1].items() if gr is not None and grads[0][n] is None]
    assert not missing, f'{name} ({mode}): no gradient with fast=True for {missing[:5]}'
    for n, gr in grads[1].items():
        if gr is None:
            continue
        if n.endswith('norm1.bias') and '.blocks.' in n:
            # its true gradient is 0 (the bias cancels in pool(x) - x): rounding noise only
            scale = grads[1][n.replace('bias', 'weight')].abs().max()
            assert grads[0][n].abs().max() <= 1e-9 * scale
            continue
        assert_close(grads[0][n], gr, f'{name} ({mode}) grad of {n}', rtol=1e-7)
    bb_params = [n for n, p in fast.backbone.named_parameters() if p.requires_grad]
    assert all(grads[0][f'backbone.{n}'] is not None for n in bb_params)


@pytest.mark.slow
def test_train_losses_equal(full_pair):
    name, scope, fast, ref, data = full_pair
    losses = []
    for model in (fast, ref):
        model.train()
        torch.manual_seed(5)
        with torch.no_grad():
            out = model(**copy.deepcopy(data), mode='loss')
        losses.append({k: sum(flat(v)) for k, v in out.items() if 'loss' in k})
    assert losses[0].keys() == losses[1].keys() and losses[0]
    for k in losses[1]:
        assert_close(losses[0][k], losses[1][k], f'{name} {k}', rtol=1e-4)


@pytest.mark.slow
def test_bf16_autocast(full_pair):
    """CPU bf16 autocast runs and matches. mmcv's CPU RoIAlign has no bf16 kernel, so for the
    two-stage detectors the part that can run under it is compared: backbone, neck and RPN."""
    name, scope, fast, ref, data = full_pair
    fast.eval(), ref.eval()
    outputs = []
    for model in (fast, ref):
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
            if two_stage(model):
                seen, handle = backbone_maps_are_contiguous(model)
                outputs.append(flat(model.rpn_head(model.extract_feat(data['inputs']))))
                handle.remove()
                assert seen and all(seen)
            else:
                outputs.append(tensor_outputs(model, data))
    for i, (x, y) in enumerate(zip(*outputs)):
        assert_close(x, y, f'{name} bf16 tensor output {i}', rtol=1e-2)
