"""torch.compile: no graph breaks (backbone, and whole mmdet / mmseg networks), no recompiles
at a fixed shape, one graph across detection input sizes with ``dynamic=True``, and compiled
results equal to eager ones (outputs and every gradient, fused training path included).

Dynamo's own counters tell breaks and recompiles; the ``eager``/``aot_eager`` backends keep the
test fast (what is traced is the same graph that inductor would compile)."""
import pytest
import torch
import torch._dynamo as dynamo
from torch._dynamo.utils import counters

from mmmeta import MetaFormer

pytestmark = pytest.mark.slow  # dynamo traces whole models: seconds per test
SHORT = dict(depths=(1, 1, 2, 1))


@pytest.fixture(autouse=True)
def fresh_dynamo():
    dynamo.reset()
    counters.clear()
    yield
    dynamo.reset()


def explain(fn, *args):
    e = dynamo.explain(fn)(*args)
    return e.graph_count, e.graph_break_count, [b.reason.splitlines()[0] for b in e.break_reasons]


@pytest.mark.parametrize('arch,mode', [
    ('poolformer_s12', 'eval'), ('poolformer_s12', 'train'),  # fused inference / FusedBlock
    ('poolformerv2_s12', 'train'),  # StarReLU, residual scales, bias-free norms
    ('caformer_s18', 'eval'), ('metaformer_pppf_s12', 'eval')])  # reference modules
def test_backbone_has_no_graph_breaks(arch, mode):
    m = MetaFormer(arch, depths=(1, 1, 1, 1)).train(mode == 'train')
    x = torch.randn(1, 3, 96, 128)
    with torch.set_grad_enabled(mode == 'train'):
        graphs, breaks, reasons = explain(m, x)
    assert (graphs, breaks) == (1, 0), reasons


@pytest.mark.parametrize('scope,config', [
    ('mmdet', 'configs/retinanet_poolformer_s12_1x_coco.py'),
    ('mmseg', 'configs/fpn_poolformer_s12_40k_ade20k.py')])
def test_whole_network_has_no_graph_breaks(scope, config):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    __import__(f'{scope}.utils', fromlist=['x']).register_all_modules(False)
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    cfg = Config.fromfile(config)
    cfg.model.backbone.update(init_cfg=None, **SHORT)
    if scope == 'mmseg':  # SyncBN has no CPU kernel
        cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    model = registry.build(cfg.model).eval()
    with torch.no_grad():
        graphs, breaks, reasons = explain(model._forward, torch.randn(1, 3, 96, 128))
    assert (graphs, breaks) == (1, 0), reasons


def test_no_recompile_at_a_fixed_shape_train_and_eval():
    m = MetaFormer('poolformer_s12', **SHORT)
    compiled = torch.compile(m, backend='aot_eager')
    x = torch.randn(2, 3, 64, 96)
    for _ in range(3):
        m.train()
        sum(o.sum() for o in compiled(x)).backward()
        m.eval()
        with torch.no_grad():
            compiled(x)
    # one graph for training (grad mode, train flag) and one for inference: nothing more
    assert counters['stats']['unique_graphs'] == 2, dict(counters['stats'])
    assert not counters['graph_break'], dict(counters['graph_break'])


def test_dynamic_sizes_compile_once():
    # torch picks a CPU conv backend by input size (a guard at 20480 elements), so maps much
    # smaller than any detection input would compile a second graph; these sizes are above it
    m = MetaFormer('poolformer_s12', **SHORT).eval()
    compiled = torch.compile(m, backend='eager', dynamic=True)
    with torch.no_grad():
        for h, w in [(192, 256), (256, 192), (320, 224), (232, 328), (288, 360)]:
            out = compiled(torch.randn(1, 3, h, w))
            assert out[0].shape[-2:] == ((h - 3) // 4 + 1, (w - 3) // 4 + 1)
    assert counters['stats']['unique_graphs'] == 1, dict(counters['stats'])


@pytest.mark.parametrize('arch', ['poolformer_s12', 'poolformerv2_s12'])
def test_compiled_equals_eager(arch):
    torch.manual_seed(0)
    m = MetaFormer(arch, **SHORT).double()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    compiled = torch.compile(m, backend='aot_eager')
    x = torch.randn(2, 3, 64, 96, dtype=torch.float64)
    results = []
    for fn in (m, compiled):
        m.zero_grad(set_to_none=True)
        xx = x.clone().requires_grad_()
        outs = fn(xx)
        sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(o)).sum()
            for o in outs).backward()
        results.append(([o.detach() for o in outs], xx.grad,
                        {n: p.grad.clone() for n, p in m.named_parameters()}))
    (a, ax, ag), (b, bx, bg) = results
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ax, bx, rtol=1e-10, atol=1e-10)
    for n in ag:
        torch.testing.assert_close(ag[n], bg[n], rtol=1e-9, atol=1e-10, msg=n)


def test_compiled_inference_runs_one_eager_op_per_block():
    # inductor's code for a fused block is slower than the eager oneDNN kernels on CPU: each
    # inference block reaches the compiler as one opaque op, with the eager results
    m = MetaFormer('poolformer_s12', **SHORT).eval()
    graphs = []

    def capture(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        out, ref = torch.compile(m, backend=capture)(x), m(x)
    calls = [str(n.target) for g in graphs for n in g.graph.nodes if n.op == 'call_function']
    assert sum('pool_block_inference' in t for t in calls) == sum(SHORT['depths']), calls
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_export_traces_plain_ops():
    # torch.export (and the ONNX exporter built on it) gets a portable graph: no mmmeta or
    # oneDNN-only ops, the same maps as eager
    m = MetaFormer('poolformer_s12', **SHORT).eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ep = torch.export.export(m, (x,))
        out, ref = ep.module()(x), m(x)
    ops = {str(n.target) for n in ep.graph.nodes if n.op == 'call_function'}
    assert not [o for o in ops if 'mmmeta' in o or 'mkldnn' in o], ops
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
