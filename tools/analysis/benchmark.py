#!/usr/bin/env python
"""mmmeta's MetaFormer against timm and mmpretrain (eager and ``torch.compile``d), interleaved.

    python tools/analysis/benchmark.py --quick                  # 512x512 cases, no compile
    python tools/analysis/benchmark.py --markdown perf.md       # everything, README table

Built for shared, noisy machines: every repetition runs each implementation once, in a rotating
order, so a slow minute hits all of them; a case reports each implementation's median time and
the **median of the per-repetition ratios** to mmmeta with its inter-quartile range, and flags a
case whose ratios spread by more than ``--max-spread`` (rerun it). The header names the CPU,
its vector ISA (AVX2 / AVX-512 / AMX) and the dense fp32 matmul rate. The matmul bound is
measured, not derived: each inference case also times the model's own GEMMs and convolutions
and MLP activation alone (same shapes, same repetitions), the floor under any implementation
of the same layers.

Every peer gets the same weights (loaded into mmmeta through its converter) and the maximum
output difference is printed. Memory: for a training step, the activation memory kept for
backward (bytes of the tensors autograd saves, distinct storages, parameters excluded) and the
peak resident memory of the whole step. Timings run under the allocator settings a user's
process has; the peaks are measured in a child process with glibc's mmap threshold fixed low
(freed tensors leave the resident set), a setting that taxes every large allocation with
fresh page faults (measured: mmmeta inference 1.6x slower under it).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from mmmeta import MetaFormer
from mmmeta.analysis import count_macs
from mmmeta.checkpoint import convert_backbone
from mmmeta.models.layers import build_act

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ISA_FLAGS = ('avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_tile', 'amx_bf16')


# ------------------------------------------------------------------------------ machine
def machine_info() -> dict:
    cpu, flags = platform.processor() or platform.machine(), set()
    if os.path.exists('/proc/cpuinfo'):
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
            elif line.startswith('flags'):
                flags = set(line.split(':', 1)[1].split())
    return dict(cpu=cpu, isa=[f for f in ISA_FLAGS if f in flags],
                torch_isa=torch.backends.cpu.get_cpu_capability(), cores=os.cpu_count(),
                threads=torch.get_num_threads(), torch=torch.__version__,
                gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None)


def matmul_peak_gmacs(device: torch.device, dtype=torch.float32) -> float:
    n = 2048 if device.type == 'cpu' else 8192
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    best = min(interleaved({'mm': lambda: a @ b}, device, 2, 5)['mm'])
    return n ** 3 / best / 1e9


# ------------------------------------------------------------------------------ measuring
def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize()


def interleaved(fns: Dict[str, Callable], device, warmup: int, reps: int) -> Dict[str, list]:
    """Times of each function, one call of each per repetition, in a rotating order."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times = {name: [] for name in names}
    for r in range(reps):
        for name in names[r % len(names):] + names[:r % len(names)]:
            _sync(device)
            t = time.perf_counter()
            fns[name]()
            _sync(device)
            times[name].append(time.perf_counter() - t)
    return times


def ratio_stats(t: List[float], ref: List[float]) -> dict:
    """Median and quartiles of the per-repetition ratios t / ref (>1: mmmeta faster)."""
    r = sorted(a / b for a, b in zip(t, ref))
    q = statistics.quantiles(r, n=4) if len(r) > 1 else [r[0]] * 3
    return dict(ratio=statistics.median(r), q1=q[0], q3=q[2])


def _rss() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def peak_memory_mib(fn: Callable, device) -> Optional[float]:
    """Peak extra memory during one call (CPU: sampled resident memory)."""
    if device.type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    if not os.path.exists('/proc/self/statm'):
        return None
    base, peak, done = _rss(), [0], [False]

    def sample():
        while not done[0]:
            peak[0] = max(peak[0], _rss())
            time.sleep(0.0005)

    t = threading.Thread(target=sample)
    t.start()
    fn()
    done[0] = True
    t.join()
    return max(peak[0] - base, 0) / 2 ** 20


def step_peaks(args, device) -> Dict[str, Dict[str, Optional[float]]]:
    """Peak memory of each training step, {case: {impl: MiB}}: run by :func:`measure_step_peaks`
    in a fresh process whose allocator returns freed tensors to the system."""
    peaks = {}
    impls = {n: m.to(device) for n, m in build_impls(args.arch, compile_peers=False).items()}
    eager = training_impls(impls, args.arch, device)
    for h, w in case_sizes(args):
        x = torch.randn(2, 3, h, w, device=device)
        for n, m in eager.items():
            m.train()
            fn = train_fn(m, x)
            fn()  # lazy state of a first call is not the step's
            m.zero_grad(set_to_none=True)  # the step allocates its parameter gradients
            peaks.setdefault(train_title(h, w, device), {})[n] = peak_memory_mib(fn, device)
    return peaks


def measure_step_peaks(rows: List[dict], args) -> None:
    """Into the training rows: the peaks of :func:`step_peaks`, measured in a child process
    with glibc's mmap threshold fixed low (big tensors from mmap, unmapped on free), so that
    resident memory follows live memory. Timings run without it: under it every large
    allocation pays fresh page faults (measured: mmmeta inference 1.6x slower), which a
    user's process, with glibc's adaptive threshold, does not pay."""
    cmd = [sys.executable, os.path.abspath(__file__), '--arch', args.arch, '--device',
           args.device, '--step-peaks'] + (['--quick'] if args.quick else []) + \
        (['--threads', str(args.threads)] if args.threads else [])
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='131072')
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
        peaks = json.loads(out.stdout.strip().splitlines()[-1]) if not out.returncode else None
    except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
        out, peaks = e, None
    if not isinstance(peaks, dict):
        print('\nstep peak memory not measured: the child process '
              f'({" ".join(cmd[1:])}) failed:\n{str(getattr(out, "stderr", out))[-2000:]}')
        return
    print('\nstep peak memory (separate process)')
    for r in rows:
        mib = peaks.get(r['case'], {}).get(r['impl'])
        if mib is not None:
            r['peak_mib'] = mib
            print(f'  {r["case"]}: {r["impl"]:20s} {mib:.0f} MiB', flush=True)


def saved_activation_mib(model: nn.Module, x: torch.Tensor) -> float:
    """What autograd keeps for backward after one forward: distinct storages, no parameters.

    With activation checkpointing (``with_cp``) the checkpointed inputs are what is kept; the
    tensors saved inside a checkpointed region are dropped and recomputed, so they are not
    counted (torch's checkpoint installs its own hooks there)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = {}

    def pack(t):
        if isinstance(t, torch.Tensor) and t.device.type != 'meta':
            s = t.untyped_storage()
            if s.data_ptr() not in params:
                seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        outs = model(x)
    for o in outs:  # a checkpointed stage keeps its inputs through the output's graph
        pack(o)
    return sum(seen.values()) / 2 ** 20


# ------------------------------------------------------------------------------ implementations
class TimmFeatures(nn.Module):
    def __init__(self, arch: str):
        super().__init__()
        import timm
        self.m = timm.create_model(arch, pretrained=False)

    def forward(self, x):
        return tuple(self.m.forward_intermediates(x, intermediates_only=True))


def build_impls(arch: str, compile_peers: bool) -> Dict[str, nn.Module]:
    """mmmeta (with timm's weights), timm, mmpretrain, mmmeta with output norms (mmpretrain's
    weights, compared with mmpretrain, which norms its outputs); compiled copies when asked."""
    impls = {}
    timm_model = TimmFeatures(arch)
    ours = MetaFormer(arch, out_norm=False)
    load_into(ours, timm_model.m.state_dict())
    impls['mmmeta'] = ours
    impls['timm'] = timm_model
    if arch.startswith('poolformer_'):
        from mmpretrain.models.backbones import PoolFormer
        mmpre = PoolFormer(arch=arch.split('_')[1], out_indices=(0, 2, 4, 6))
        ours_n = MetaFormer(arch, out_norm=True)
        load_into(ours_n, mmpre.state_dict())
        impls['mmmeta+norms'] = ours_n
        impls['mmpretrain'] = mmpre
    if compile_peers:
        for name in ('mmmeta', 'timm'):
            impls[f'{name} compiled'] = torch.compile(impls[name])
    return impls


def load_into(ours: nn.Module, state: dict) -> None:
    converted, _, _ = convert_backbone(state)
    missing, _ = ours.load_state_dict(converted, strict=False)
    if missing:
        raise RuntimeError(f'weights missing after conversion: {missing}')


# mmmeta implementation each peer is compared with (itself: no ratio)
REFERENCE_OF = {'mmpretrain': 'mmmeta+norms', 'mmmeta+norms': 'mmmeta+norms'}
GEMM = 'its GEMMs+convs+act alone'  # the matmul bound, timed in the same repetitions


def reference_of(name: str) -> str:
    return REFERENCE_OF.get(name, 'mmmeta')


def inference_fn(model, x):
    def fn():
        with torch.no_grad():
            return model(x)
    return fn


def train_fn(model, x):
    def fn():
        model.zero_grad(set_to_none=True)
        sum(o.float().square().mean() for o in model(x)).backward()
    return fn


def max_diff(a, b) -> float:
    return max((p.float() - q.float()).abs().max().item() for p, q in zip(a, b))


def gemm_macs(model: nn.Module, x: torch.Tensor) -> int:
    return count_macs(model, (x,))


def model_gemms(arch: str, h: int, w: int, device, batch: int = 1,
                training: bool = False) -> Callable:
    """The model's own GEMMs, convolutions and MLP activation alone, with its shapes (stem,
    downsampling convs, both MLP matmuls of every block on (tokens x channels), the activation
    of the hidden layer, in the first GEMM's epilogue where oneDNN has it): what no
    implementation that computes the same layers can go below (every peer evaluates the same
    erf-GELU once per hidden value). Its time over mmmeta's is the matmul time share.
    ``training``: also the two backward GEMMs of each matmul (input and weight gradients), the
    activation's backward and each convolution's backward (on NCHW maps, its fastest layout
    on CPU)."""
    from mmmeta.models.archs import resolve_arch
    cfg = resolve_arch(arch)
    convs, mms = [], []
    stem = cfg['stem_cfg']
    x = torch.randn(batch, 3, h, w, device=device)
    convs.append((x, torch.randn(cfg['dims'][0], 3, stem['kernel_size'], stem['kernel_size'],
                                 device=device), stem['stride'], stem['padding']))
    hh, ww = (h + 2 * stem['padding'] - stem['kernel_size']) // stem['stride'] + 1, \
        (w + 2 * stem['padding'] - stem['kernel_size']) // stem['stride'] + 1
    down = cfg['downsample_cfg']
    for i, (depth, dim) in enumerate(zip(cfg['depths'], cfg['dims'])):
        if i > 0:
            prev = cfg['dims'][i - 1]
            maps = torch.randn(batch, prev, hh, ww, device=device)
            if not training:  # inference: channels-last is the fastest conv layout on CPU
                maps = maps.contiguous(memory_format=torch.channels_last)
            convs.append((maps, torch.randn(dim, prev, down['kernel_size'],
                                            down['kernel_size'], device=device),
                          down['stride'], down['padding']))
            hh = (hh + 2 * down['padding'] - down['kernel_size']) // down['stride'] + 1
            ww = (ww + 2 * down['padding'] - down['kernel_size']) // down['stride'] + 1
        hidden = int(dim * cfg['mlp_ratio'])
        tokens = torch.randn(batch * hh * ww, dim, device=device)
        act = torch.randn(batch * hh * ww, hidden, device=device)
        fc1, fc2 = torch.randn(dim, hidden, device=device), torch.randn(hidden, dim, device=device)
        mms += [(tokens, fc1, True), (act, fc2, False)] * depth
    activation = build_act(cfg['act_cfg']).to(device)
    epilogue = type(activation) is torch.nn.GELU and device.type == 'cpu' and \
        torch.backends.mkldnn.is_available()

    def run():
        for inp, weight, stride, pad in convs:
            if training:
                inp, weight = inp.detach().requires_grad_(), weight.detach().requires_grad_()
                out = torch.nn.functional.conv2d(inp, weight, None, stride, pad)
                out.backward(torch.ones_like(out))
            else:
                torch.nn.functional.conv2d(inp, weight, None, stride, pad)
        for a, b, activated in mms:
            if activated and epilogue:
                out = torch.ops.mkldnn._linear_pointwise(a, b.t(), None, 'gelu', [],
                                                         activation.approximate)
            else:
                out = torch.mm(a, b)
                if activated:
                    out = activation(out)
            if training:
                if activated and type(activation) is torch.nn.GELU:  # activation backward
                    out = torch.ops.aten.gelu_backward(out, out, approximate=activation.approximate)
                torch.mm(out, b.t())  # input gradient
                torch.mm(a.t(), out)  # weight gradient
    return run


# ------------------------------------------------------------------------------ cases
def run_case(title: str, fns: Dict[str, Callable], device, warmup: int, reps: int,
             max_spread: float, extra: Optional[Dict[str, dict]] = None) -> List[dict]:
    times = interleaved(fns, device, warmup, reps)
    rows = []
    for name, ts in times.items():
        ref = reference_of(name)
        row = dict(case=title, impl=name, median_ms=statistics.median(ts) * 1e3, reps=len(ts))
        if name != ref and ref in times:
            row.update(ratio_stats(ts, times[ref]), vs=ref)
            row['noisy'] = (row['q3'] - row['q1']) / row['ratio'] > max_spread
        row.update((extra or {}).get(name, {}))
        rows.append(row)
    print_case(rows)
    return rows


def print_case(rows: List[dict]) -> None:
    print(f'\n{rows[0]["case"]}')
    for r in rows:
        line = f'  {r["impl"]:20s} {r["median_ms"]:9.1f} ms'
        if 'ratio' in r:
            line += (f'   {r["ratio"]:.2f}x of {r["vs"]} [IQR {r["q1"]:.2f}-{r["q3"]:.2f}]'
                     + ('  NOISY: rerun' if r['noisy'] else ''))
        for key, unit in (('saved_mib', 'MiB saved for backward'), ('peak_mib', 'MiB step peak'),
                          ('max_abs_diff', 'max |diff|'), ('bound_pct', '% of matmul bound')):
            if r.get(key) is not None:
                line += f'   {r[key]:.3g} {unit}'
        print(line, flush=True)


def case_sizes(args) -> List[Tuple[int, int]]:
    return [(512, 512)] if args.quick else [(512, 512), (800, 1333)]


def train_title(h: int, w: int, device) -> str:
    return f'backbone training step b2 {h}x{w} {device.type} fp32'


def training_impls(impls: Dict[str, nn.Module], arch: str, device) -> Dict[str, nn.Module]:
    """The eager implementations and mmmeta with activation checkpointing."""
    eager = {n: m for n, m in impls.items() if 'compiled' not in n}
    eager['mmmeta with_cp'] = MetaFormer(arch, out_norm=False, with_cp=True).to(device)
    eager['mmmeta with_cp'].load_state_dict(eager['mmmeta'].state_dict())
    return eager


def backbone_cases(args, device, peak: float) -> List[dict]:
    impls = build_impls(args.arch, compile_peers=not args.no_compile)
    for m in impls.values():
        m.to(device)
    rows = []
    for h, w in case_sizes(args):
        x = torch.randn(1, 3, h, w, device=device)
        for m in impls.values():
            m.eval()
        with torch.no_grad():
            outs = {n: m(x) for n, m in impls.items()}
        macs = gemm_macs(MetaFormer(args.arch, out_norm=False), x[:1].cpu())
        extra = {n: dict(max_abs_diff=max_diff(o, outs[reference_of(n)]))
                 for n, o in outs.items() if reference_of(n) != n}
        fns = {n: inference_fn(m, x) for n, m in impls.items()}
        fns[GEMM] = model_gemms(args.arch, h, w, device)
        case_rows = run_case(f'backbone inference b1 {h}x{w} {device.type} fp32 '
                             f'({macs / 1e9:.1f} GMAC)', fns, device, args.warmup, args.reps,
                             args.max_spread, extra)
        bound = next(r for r in case_rows if r['impl'] == GEMM)
        for r in case_rows:
            r['bound_pct'] = 100 * bound['median_ms'] / r['median_ms']
            r['gemm_ms'] = bound['median_ms']
            r['gemm_ratio'] = bound['ratio']  # GEMM time / mmmeta time, per repetition
        rows += case_rows
    # training: eager peers, mmmeta with activation checkpointing as well
    eager = training_impls(impls, args.arch, device)
    for h, w in case_sizes(args):
        x = torch.randn(2, 3, h, w, device=device)
        extra = {}
        for n, m in eager.items():
            m.train()
            extra[n] = dict(saved_mib=saved_activation_mib(m, x))
        fns = {n: train_fn(m, x) for n, m in eager.items()}
        title = train_title(h, w, device)
        fns[GEMM] = model_gemms(args.arch, h, w, device, batch=2, training=True)
        reps = args.reps if (h, w) == (512, 512) else max(3, args.reps // 3)
        case_rows = run_case(title, fns, device, 1, reps, args.max_spread, extra)
        bound = next(r for r in case_rows if r['impl'] == GEMM)
        for r in case_rows:
            r['bound_pct'] = 100 * bound['median_ms'] / r['median_ms']
            r['gemm_ratio'] = bound['ratio']
        rows += case_rows
    return rows


MODEL_SPECS = [('mmdet', 'configs/retinanet_poolformer_s12_1x_coco.py', (800, 1333)),
               ('mmseg', 'configs/fpn_poolformer_s12_40k_ade20k.py', (512, 512))]


def whole_model_cases(args, device) -> List[dict]:
    """RetinaNet-S12 @800x1333, Semantic FPN-S12 @512: mmmeta's configs against the same
    detector / segmentor with mmpretrain's PoolFormer backbone (identical weights)."""
    import mmpretrain.models  # noqa: F401  (registers mmpretrain.PoolFormer)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    rows = []
    for scope, cfg_path, (h, w) in MODEL_SPECS:
        __import__(f'{scope}.utils', fromlist=['x']).register_all_modules(False)
        init_default_scope(scope)
        registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
        cfg = Config.fromfile(os.path.join(ROOT, cfg_path))
        cfg.model.backbone.init_cfg = None
        if scope == 'mmseg':  # SyncBN has no CPU kernel; BN computes the same in eval mode
            cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
        ours = registry.build(cfg.model)
        peer_cfg = cfg.model.copy()
        peer_cfg.backbone = dict(type='mmpretrain.PoolFormer', arch='s12',
                                 out_indices=[2 * i for i in ours.backbone.out_indices])
        peer = registry.build(peer_cfg)
        ours.load_state_dict(peer.state_dict(), strict=True)  # backbone converted on load
        x = torch.randn(1, 3, h, w, device=device)
        impls = {'mmmeta+norms': ours.to(device).eval(), 'mmpretrain': peer.to(device).eval()}
        with torch.no_grad():
            a, b = ours._forward(x), peer._forward(x)
        extra = {'mmpretrain': dict(max_abs_diff=max_diff(flatten(a), flatten(b)))}
        fns = {n: inference_fn(lambda t, m=m: m._forward(t), x) for n, m in impls.items()}
        rows += run_case(f'{scope} {os.path.basename(cfg_path)} inference b1 {h}x{w} '
                         f'{device.type} fp32', fns, device, 1, max(3, args.reps // 2),
                         args.max_spread, extra)
    return rows


def flatten(o) -> list:
    if isinstance(o, (tuple, list)):
        return [t for v in o for t in flatten(v)]
    return [o]


# ------------------------------------------------------------------------------ targets
TARGETS = [  # (case prefix, impl, at least this many times faster than mmmeta's counterpart)
    ('backbone inference b1 512x512', 'timm compiled', 1.1),
    ('backbone inference b1 800x1333', 'timm compiled', 1.1),
    ('backbone training step b2 512x512', 'timm', 1.4),
    ('mmdet', 'mmpretrain', 1.3),
    ('mmseg', 'mmpretrain', 1.3),
]


def check_targets(rows: List[dict]) -> List[str]:
    lines = []
    for prefix, impl, want in TARGETS:
        for r in rows:
            if r['case'].startswith(prefix) and r['impl'] == impl and 'ratio' in r:
                ok = 'met' if r['ratio'] >= want else 'MISSED'
                bound = ''
                if r.get('gemm_ratio'):
                    most = r['ratio'] / r['gemm_ratio']
                    bound = (f'; the model\'s GEMMs, convs and activation alone take '
                             f'{r["gemm_ratio"]:.2f}x mmmeta\'s time: no implementation '
                             f'can be more than {most:.2f}x faster than {impl}')
                lines.append(f'{prefix}: {impl} takes {r["ratio"]:.2f}x mmmeta\'s time '
                             f'(target >= {want}x) {ok}{bound}')
    for r in rows:  # compiled mmmeta against compiled timm, same case
        if r['impl'] == 'timm compiled':
            mine = next((q for q in rows if q['case'] == r['case']
                         and q['impl'] == 'mmmeta compiled'), None)
            if mine:
                ratio = r['ratio'] / mine['ratio']
                lines.append(f'{r["case"].split(" (")[0]}: timm compiled takes {ratio:.2f}x '
                             f'compiled mmmeta\'s time (target >= 1.3x) '
                             f'{"met" if ratio >= 1.3 else "MISSED"}')
    for r in rows:
        if r['case'].startswith('backbone training') and r['impl'] == 'timm' and \
                r.get('saved_mib'):
            mine = next(q for q in rows if q['case'] == r['case'] and q['impl'] == 'mmmeta')
            frac = mine['saved_mib'] / r['saved_mib']
            lines.append(f'{r["case"]}: mmmeta keeps {frac:.2f}x of timm\'s activation memory '
                         f'(target <= 0.7x) {"met" if frac <= 0.7 else "MISSED"}')
    return lines


# ------------------------------------------------------------------------------ output
def header(info: dict, peak: float) -> str:
    isa = '/'.join(info['isa']) or 'none of ' + '/'.join(ISA_FLAGS)
    return (f'{info["cpu"]} ({info["cores"]} cores, {info["threads"]} torch threads; ISA '
            f'{isa}; torch kernels {info["torch_isa"]}'
            + (f'; {info["gpu"]}' if info['gpu'] else '')
            + f'), torch {info["torch"]}, dense fp32 matmul {peak:.1f} GMAC/s')


def write_markdown(path: str, info: dict, peak: float, rows: List[dict], targets: List[str],
                   reps: int) -> None:
    lines = [f'Measured with `python tools/analysis/benchmark.py` on {header(info, peak)}. '
             f'{reps} interleaved repetitions; ratio = the median over repetitions of the '
             f'peer\'s time / mmmeta\'s time in the same repetition (IQR in brackets; >1: '
             f'mmmeta faster).', '',
             '| case | implementation | median ms | ratio (IQR) | notes |', '|---|---|---|---|---|']
    for r in rows:
        ratio = f'{r["ratio"]:.2f}x ({r["q1"]:.2f}-{r["q3"]:.2f})' if 'ratio' in r else '-'
        notes = []
        if r.get('bound_pct'):
            notes.append(f'{r["bound_pct"]:.0f}% of matmul bound')
        if r.get('saved_mib') is not None:
            notes.append(f'{r["saved_mib"]:.0f} MiB saved for backward')
        if r.get('peak_mib') is not None:
            notes.append(f'step peak {r["peak_mib"]:.0f} MiB')
        if r.get('max_abs_diff') is not None:
            notes.append(f'max diff {r["max_abs_diff"]:.1e}')
        if r.get('noisy'):
            notes.append('noisy')
        lines.append(f'| {r["case"]} | {r["impl"]} | {r["median_ms"]:.1f} | {ratio} | '
                     f'{"; ".join(notes)} |')
    lines += [''] + [f'- {t}' for t in targets]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'wrote {path}')


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--arch', default='poolformer_s12')
    p.add_argument('--quick', action='store_true', help='512x512 only, no compile, no models')
    p.add_argument('--no-compile', action='store_true', help='skip the torch.compile peers')
    p.add_argument('--no-models', action='store_true', help='skip whole-model cases')
    p.add_argument('--device', default='cpu')
    p.add_argument('--reps', type=int, default=None, help='interleaved repetitions')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    p.add_argument('--max-spread', type=float, default=0.15,
                   help='flag a case whose ratio IQR exceeds this fraction of its median')
    p.add_argument('--json', default=None, help='write all rows to this file')
    p.add_argument('--markdown', default=None, help='write a README-ready table to this file')
    p.add_argument('--step-peaks', action='store_true', help=argparse.SUPPRESS)  # child run
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.no_compile = args.no_compile or args.quick
    args.reps = args.reps or (5 if args.quick else 12)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        p.error(f'--device {args.device}: this torch sees no CUDA GPU '
                f'(torch.cuda.is_available() is False); run it on a GPU machine or use cpu')
    torch.manual_seed(0)
    if args.step_peaks:
        print(json.dumps(step_peaks(args, device)))
        return
    info = machine_info()
    peak = matmul_peak_gmacs(device)
    print(header(info, peak))
    rows = backbone_cases(args, device, peak)
    if not args.quick and not args.no_models and args.arch == 'poolformer_s12':
        rows += whole_model_cases(args, device)
    measure_step_peaks(rows, args)
    targets = check_targets(rows)
    print('\n' + '\n'.join(targets))
    if args.markdown:
        write_markdown(args.markdown, info, peak, rows, targets, args.reps)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(info=info, matmul_gmac_s=peak, rows=rows, targets=targets), f,
                      indent=1)
        print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
