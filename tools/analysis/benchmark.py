#!/usr/bin/env python
"""Speed, memory and agreement of mmmeta's MetaFormer against timm and mmpretrain, in one run.

    python tools/analysis/benchmark.py --quick                 # < 2 min on 2 CPU cores
    python tools/analysis/benchmark.py --json bench.json       # full CPU run (and GPU if any)

Every peer gets the same weights: mmmeta's backbone is loaded from the peer's state dict through
mmmeta's converter, and the maximum absolute output difference is reported next to the times.
Times are medians over repeated runs after warm-up (spread = interquartile range); ratios are
peer time / mmmeta time (>1: mmmeta faster). Peak memory is the peak increase of resident
memory during one call on CPU (large allocations are forced to mmap so that freed memory is
returned and the peak is visible) and ``max_memory_allocated`` on GPU. GMAC/s is set against
the machine's own dense fp32 matmul rate measured at the start.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from typing import Callable, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
if os.environ.get('MALLOC_MMAP_THRESHOLD_') is None and platform.system() == 'Linux':
    # fixed threshold: big tensors come from mmap and go back on free -> RSS shows live memory
    os.environ['MALLOC_MMAP_THRESHOLD_'] = '131072'
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from mmmeta import MetaFormer  # noqa: E402
from mmmeta.analysis import count_macs  # noqa: E402
from mmmeta.checkpoint import convert_backbone  # noqa: E402


# ------------------------------------------------------------------------------ implementations
class TimmFeatures(nn.Module):
    def __init__(self, arch: str):
        super().__init__()
        import timm
        self.m = timm.create_model(arch, pretrained=False)

    def forward(self, x):
        return tuple(self.m.forward_intermediates(x, intermediates_only=True))


def build_peers(arch: str) -> Dict[str, nn.Module]:
    peers = {}
    try:
        peers['timm'] = TimmFeatures(arch)
    except Exception as err:  # arch unknown to timm
        print(f'[skip] timm: {err}')
    if arch.startswith('poolformer_') and 'hybrid' not in arch:
        try:
            from mmpretrain.models.backbones import PoolFormer
            peers['mmpretrain'] = PoolFormer(arch=arch.split('_')[1], out_indices=(0, 2, 4, 6))
        except Exception as err:
            print(f'[skip] mmpretrain: {type(err).__name__}: {err}')
    return peers


def ours_like(arch: str, peer: nn.Module, name: str, fast: bool = True) -> nn.Module:
    """mmmeta backbone with the peer's weights (and its output norms when the peer has them)."""
    ours = MetaFormer(arch, out_norm=(name == 'mmpretrain'), fast=fast)
    state, _, _ = convert_backbone(peer.state_dict() if name != 'timm' else peer.m.state_dict())
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert not missing, missing
    return ours


# ------------------------------------------------------------------------------ measuring
def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def time_fn(fn: Callable, device, warmup: int, reps: int) -> List[float]:
    for _ in range(warmup):
        fn()
    _sync(device)
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t)
    return out


def _rss() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def peak_memory(fn: Callable, device) -> Optional[float]:
    """Peak extra memory (MiB) during one call."""
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


def matmul_peak_gmacs(device, dtype) -> float:
    n = 2048 if device.type == 'cpu' else 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    ts = time_fn(lambda: a @ b, device, 2, 5)
    return n ** 3 / min(ts) / 1e9


# ------------------------------------------------------------------------------ cases
def inference_fn(model, x):
    def fn():
        with torch.no_grad():
            return model(x)
    return fn


def train_fn(model, x):
    def fn():
        model.zero_grad(set_to_none=True)
        loss = sum(o.float().square().mean() for o in model(x))
        loss.backward()
    return fn


def autocast(fn, device, dtype):
    if dtype == torch.float32:
        return fn

    def wrapped():
        with torch.autocast(device.type, dtype=dtype):
            return fn()
    return wrapped


def max_diff(a, b) -> float:
    return max((x.float() - y.float()).abs().max().item() for x, y in zip(a, b))


def bench_backbone(arch, cases, device, dtypes, warmup, reps, peak) -> List[dict]:
    rows = []
    peers = build_peers(arch)
    macs_cache = {}
    for peer_name, peer in peers.items():
        ours = ours_like(arch, peer, peer_name)
        impls = {'mmmeta': ours, peer_name: peer}
        for m in impls.values():
            m.to(device)
        for case in cases:
            mode, batch, (h, w) = case['mode'], case['batch'], case['size']
            x = torch.randn(batch, 3, h, w, device=device)
            key = (h, w)
            if key not in macs_cache:
                macs_cache[key] = count_macs(MetaFormer(arch, out_norm=False), (x[:1].cpu(),))
            for dtype in dtypes:
                res = {}
                for name, m in impls.items():
                    m.train(mode == 'train')
                    fn = (train_fn if mode == 'train' else inference_fn)(m, x)
                    fn = autocast(fn, device, dtype)
                    ts = time_fn(fn, device, warmup, reps)
                    q = statistics.quantiles(ts, n=4) if len(ts) > 1 else [ts[0]] * 3
                    res[name] = dict(median_ms=statistics.median(ts) * 1e3,
                                     iqr_ms=(q[2] - q[0]) * 1e3, mem_mib=peak_memory(fn, device))
                m_ours, m_peer = res['mmmeta'], res[peer_name]
                with torch.no_grad(), torch.autocast(device.type, dtype=dtype,
                                                     enabled=dtype != torch.float32):
                    ours.eval(), peer.eval()
                    diff = max_diff(ours(x[:1]), peer(x[:1]))
                mult = 3 if mode == 'train' else 1  # backward ~ 2x forward
                gmacs = macs_cache[key] * batch * mult / (m_ours['median_ms'] / 1e3) / 1e9
                rows.append(dict(
                    arch=arch, peer=peer_name, mode=mode, batch=batch, size=f'{h}x{w}',
                    device=device.type, dtype=str(dtype).replace('torch.', ''),
                    mmmeta_ms=m_ours['median_ms'], mmmeta_iqr_ms=m_ours['iqr_ms'],
                    peer_ms=m_peer['median_ms'], peer_iqr_ms=m_peer['iqr_ms'],
                    speedup=m_peer['median_ms'] / m_ours['median_ms'],
                    throughput_img_s=batch / (m_ours['median_ms'] / 1e3),
                    mmmeta_mem_mib=m_ours['mem_mib'], peer_mem_mib=m_peer['mem_mib'],
                    max_abs_diff=diff, gmac_s=gmacs,
                    pct_of_matmul_peak=100 * gmacs / peak[(device.type, str(dtype))]))
                print_row(rows[-1])
    return rows


MODEL_SPECS = [('mmdet', 'configs/retinanet_poolformer_s12_1x_coco.py', (800, 1333)),
               ('mmseg', 'configs/fpn_poolformer_s12_40k_ade20k.py', (512, 512))]


def bench_whole_models(device, warmup, reps, specs=MODEL_SPECS) -> List[dict]:
    """RetinaNet-S12 @800x1333 and Semantic FPN-S12 @512: mmmeta configs vs the same detector /
    segmentor with mmpretrain's PoolFormer backbone (identical weights)."""
    import mmpretrain.models  # noqa: F401  (registers mmpretrain.PoolFormer)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    rows = []
    for scope, cfg_path, (h, w) in specs:
        __import__(f'{scope}.utils', fromlist=['x']).register_all_modules(False)
        init_default_scope(scope)
        registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
        cfg = Config.fromfile(os.path.join(ROOT, cfg_path))
        cfg.model.backbone.init_cfg = None
        ours = registry.build(cfg.model)
        peer_cfg = cfg.model.copy()
        idx = [2 * i for i in ours.backbone.out_indices]
        peer_cfg.backbone = dict(type='mmpretrain.PoolFormer', arch='s12', out_indices=idx)
        if scope == 'mmseg':  # SyncBN has no CPU kernel; BN computes the same in eval mode
            for c in (cfg.model.decode_head, peer_cfg.decode_head):
                c.norm_cfg = dict(type='BN', requires_grad=True)
            ours = registry.build(cfg.model)
        peer = registry.build(peer_cfg)
        # identical weights: the peer's whole state dict into ours (backbone converted on load)
        ours.load_state_dict(peer.state_dict(), strict=True)
        x = torch.randn(1, 3, h, w, device=device)
        res = {}
        for name, m in (('mmmeta', ours), ('mmpretrain', peer)):
            m.to(device).eval()
            fn = inference_fn(lambda t, m=m: m._forward(t), x)
            ts = time_fn(fn, device, warmup, reps)
            res[name] = (statistics.median(ts) * 1e3, peak_memory(fn, device))
        with torch.no_grad():
            a, b = ours._forward(x), peer._forward(x)
        flat = lambda o: [t for v in (o if isinstance(o, (tuple, list)) else [o])  # noqa: E731
                          for t in (v if isinstance(v, (tuple, list)) else [v])]
        rows.append(dict(arch='poolformer_s12', peer='mmpretrain', mode=f'{scope} model',
                         batch=1, size=f'{h}x{w}', device=device.type, dtype='float32',
                         mmmeta_ms=res['mmmeta'][0], peer_ms=res['mmpretrain'][0],
                         speedup=res['mmpretrain'][0] / res['mmmeta'][0],
                         throughput_img_s=1e3 / res['mmmeta'][0],
                         mmmeta_mem_mib=res['mmmeta'][1], peer_mem_mib=res['mmpretrain'][1],
                         max_abs_diff=max_diff(flat(a), flat(b)), mmmeta_iqr_ms=None,
                         peer_iqr_ms=None, gmac_s=None, pct_of_matmul_peak=None))
        print_row(rows[-1])
    return rows


HEADER = (f'{"case":34s} {"peer":10s} {"mmmeta ms":>10s} {"peer ms":>9s} {"ratio":>6s} '
          f'{"img/s":>7s} {"mem MiB (ours/peer)":>20s} {"max|diff|":>9s} {"GMAC/s":>7s} {"%peak":>6s}')


def print_row(r: dict) -> None:
    case = f'{r["mode"]} b{r["batch"]} {r["size"]} {r["device"]} {r["dtype"]}'
    mem = (f'{r["mmmeta_mem_mib"]:.0f}/{r["peer_mem_mib"]:.0f}'
           if r['mmmeta_mem_mib'] is not None else '-')
    g = f'{r["gmac_s"]:.1f}' if r['gmac_s'] else '-'
    pk = f'{r["pct_of_matmul_peak"]:.0f}' if r['pct_of_matmul_peak'] else '-'
    print(f'{case:34s} {r["peer"]:10s} {r["mmmeta_ms"]:10.1f} {r["peer_ms"]:9.1f} '
          f'{r["speedup"]:6.2f} {r["throughput_img_s"]:7.2f} {mem:>20s} '
          f'{r["max_abs_diff"]:9.1e} {g:>7s} {pk:>6s}', flush=True)


def write_markdown(path: str, info: dict, peak: dict, rows: List[dict]) -> None:
    """A table for the README's performance section, with the machine it was measured on."""
    cpu = next((line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo')
                if line.startswith('model name')), info['machine']) \
        if os.path.exists('/proc/cpuinfo') else info['machine']
    peaks = ', '.join(f'{k[0]} {k[1].replace("torch.", "")} {v:.1f} GMAC/s'
                      for k, v in peak.items())
    lines = [f'Measured with `python tools/analysis/benchmark.py` on {cpu} '
             f'({info["cpu_count"]} cores, {info["torch_threads"]} torch threads'
             + (f', {info["gpu"]}' if info['gpu'] else '') + f'), torch {info["torch"]}; '
             f'dense matmul peak: {peaks}. Ratio = peer time / mmmeta time.', '',
             '| case | peer | mmmeta ms | peer ms | ratio | mem MiB mmmeta / peer | '
             'max abs diff | GMAC/s (% of matmul peak) |', '|---|---|---|---|---|---|---|---|']
    for r in rows:
        mem = (f'{r["mmmeta_mem_mib"]:.0f} / {r["peer_mem_mib"]:.0f}'
               if r['mmmeta_mem_mib'] is not None else '-')
        g = (f'{r["gmac_s"]:.1f} ({r["pct_of_matmul_peak"]:.0f}%)' if r['gmac_s'] else '-')
        lines.append(f'| {r["mode"]} b{r["batch"]} {r["size"]} {r["device"]} {r["dtype"]} | '
                     f'{r["peer"]} | {r["mmmeta_ms"]:.1f} | {r["peer_ms"]:.1f} | '
                     f'{r["speedup"]:.2f}x | {mem} | {r["max_abs_diff"]:.1e} | {g} |')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'wrote {path}')


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--arch', default='poolformer_s12')
    p.add_argument('--quick', action='store_true', help='512x512 inference + training only')
    p.add_argument('--device', default=None, help='cpu or cuda (default: both when present)')
    p.add_argument('--reps', type=int, default=None)
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    p.add_argument('--json', default=None, help='write all rows to this file')
    p.add_argument('--markdown', default=None, help='write a README-ready table to this file')
    p.add_argument('--no-models', action='store_true', help='skip whole-model cases')
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [args.device] if args.device else (['cpu', 'cuda'] if torch.cuda.is_available()
                                                 else ['cpu'])
    if args.quick:
        cases = [dict(mode='inference', batch=1, size=(512, 512)),
                 dict(mode='train', batch=2, size=(512, 512))]
    else:
        cases = [dict(mode='inference', batch=1, size=(512, 512)),
                 dict(mode='inference', batch=1, size=(800, 1333)),
                 dict(mode='inference', batch=32, size=(224, 224)),
                 dict(mode='train', batch=2, size=(512, 512))]
    warmup = 1 if args.quick else 2
    reps = args.reps or (3 if args.quick else 10)
    torch.manual_seed(0)
    info = dict(machine=platform.processor() or platform.machine(), cpu_count=os.cpu_count(),
                torch_threads=torch.get_num_threads(), torch=torch.__version__,
                gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None)
    rows, peak = [], {}
    for dev_name in devices:
        device = torch.device(dev_name)
        dtypes = [torch.float32]
        if device.type == 'cuda':
            dtypes += [torch.bfloat16, torch.float16]
        for dt in dtypes:
            peak[(device.type, str(dt))] = matmul_peak_gmacs(device, dt)
        print(f'\n{device.type}: dense matmul peak ' + ', '.join(
            f'{k[1].replace("torch.", "")} {v:.1f} GMAC/s' for k, v in peak.items()
            if k[0] == device.type) + f'  ({info})')
        print(HEADER)
        rows += bench_backbone(args.arch, cases, device, dtypes, warmup, reps, peak)
        if not args.quick and not args.no_models and args.arch == 'poolformer_s12':
            rows += bench_whole_models(device, warmup, max(3, reps // 3))
    if args.markdown:
        write_markdown(args.markdown, info, peak, rows)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(info=info, matmul_peak_gmac_s={f'{k[0]} {k[1]}': v
                                                          for k, v in peak.items()},
                           rows=rows), f, indent=1)
        print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
