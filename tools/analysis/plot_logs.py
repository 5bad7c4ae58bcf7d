"""Plot training curves and validation metrics from mmengine's scalar logs.

mmengine writes ``WORK_DIR/TIMESTAMP/vis_data/scalars.json`` (and ``TIMESTAMP.json``): one JSON
object per line. Training lines hold ``loss``, ``loss_*``, ``lr``, ``iter``, ``epoch``, ``step``;
validation lines hold the metrics (``coco/bbox_mAP``, ``mIoU``, ...) and ``step`` (the epoch for
epoch-based training, else the iteration).

    python tools/analysis/plot_logs.py work_dirs/run/*/vis_data/scalars.json --out curves.png
    python tools/analysis/plot_logs.py a.json b.json --keys loss coco/bbox_mAP --legend A B
    python tools/analysis/plot_logs.py work_dirs/run        # newest vis_data/scalars.json in it
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

# Bookkeeping fields: present in the lines but not curves anyone asks for by default.
INDEX_KEYS = {'step', 'iter', 'epoch'}
AUX_KEYS = {'time', 'data_time', 'memory', 'eta', 'grad_norm'}


@dataclass
class ScalarLog:
    """One log file split into training lines and validation/test lines."""
    path: str
    train: List[dict] = field(default_factory=list)
    val: List[dict] = field(default_factory=list)

    def train_keys(self) -> List[str]:
        return _keys(self.train)

    def metric_keys(self) -> List[str]:
        return [k for k in _keys(self.val) if k not in AUX_KEYS]

    def available(self) -> List[str]:
        return self.train_keys() + [k for k in self.metric_keys() if k not in self.train_keys()]

    def val_unit(self) -> str:
        """'epoch' when the validation steps count epochs (epoch-based runs), else 'iter'."""
        epochs = [r['epoch'] for r in self.train if 'epoch' in r]
        steps = [r['step'] for r in self.val if 'step' in r]
        if epochs and steps and max(steps) <= max(epochs):
            return 'epoch'
        return 'iter'


def _keys(rows: Sequence[dict]) -> List[str]:
    seen: Dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if key not in INDEX_KEYS and isinstance(value, (int, float)):
                seen.setdefault(key)
    return list(seen)


def resolve(path: str) -> str:
    """A log file, or a work dir: then its newest ``vis_data/scalars.json``."""
    if osp.isdir(path):
        found = sorted(glob.glob(osp.join(path, '**', 'vis_data', 'scalars.json'),
                                 recursive=True))
        if not found:
            raise SystemExit(f'error: no vis_data/scalars.json under {path}')
        return found[-1]
    if not osp.isfile(path):
        raise SystemExit(f'error: log file not found: {path}')
    return path


def load_log(path: str) -> ScalarLog:
    """Read a JSON-lines scalar log; a line with 'lr' or a loss is a training line."""
    log = ScalarLog(resolve(path))
    with open(log.path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise SystemExit(f'error: {log.path}:{n} is not JSON ({err})')
            is_train = 'lr' in row or any(k == 'loss' or k.startswith('loss_') for k in row)
            (log.train if is_train else log.val).append(row)
    if not log.train and not log.val:
        raise SystemExit(f'error: {log.path} holds no scalars')
    return log


def default_keys(logs: Sequence[ScalarLog]) -> List[str]:
    """'loss' plus every metric found in any of the logs."""
    keys = ['loss'] if any('loss' in lg.train_keys() for lg in logs) else []
    for lg in logs:
        keys += [k for k in lg.metric_keys() if k not in keys]
    return keys


def check_keys(logs: Sequence[ScalarLog], keys: Sequence[str]) -> None:
    for lg in logs:
        missing = [k for k in keys if k not in lg.available()]
        if missing:
            raise SystemExit(f'error: key(s) {", ".join(missing)} not in {lg.path}; '
                             f'available: {", ".join(lg.available()) or "(none)"}')


def series(log: ScalarLog, key: str):
    """(xs, ys, x label) of ``key``: training keys against iteration, metrics against step."""
    is_train = key in log.train_keys()
    rows = log.train if is_train else log.val
    xkey = 'iter' if is_train and any('iter' in r for r in rows) else 'step'
    points = [(r[xkey], r[key]) for r in rows if key in r and xkey in r]
    label = 'iter' if is_train else log.val_unit()
    return [p[0] for p in points], [p[1] for p in points], label


def plot(logs: Sequence[ScalarLog], keys: Sequence[str], out: str, title: Optional[str] = None,
         legend: Optional[Sequence[str]] = None) -> str:
    """One subplot per key, one line per log; saves a PNG (Agg backend, no display needed)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    names = list(legend) if legend else [_run_name(lg.path) for lg in logs]
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 3 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        xlabel = 'iter'
        for lg, name in zip(logs, names):
            xs, ys, xlabel = series(lg, key)
            ax.plot(xs, ys, marker='o' if len(xs) < 30 else None, label=name)
        ax.set_title(key)
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if len(logs) > 1 or legend:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _run_name(path: str) -> str:
    """``.../TIMESTAMP/vis_data/scalars.json`` -> TIMESTAMP; else the file stem."""
    parts = osp.normpath(path).split(osp.sep)
    if len(parts) >= 3 and parts[-2] == 'vis_data':
        return parts[-3]
    return osp.splitext(parts[-1])[0]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('logs', nargs='+', help='scalars.json files or work dirs')
    parser.add_argument('--keys', nargs='+', help='keys to plot (default: loss and all metrics)')
    parser.add_argument('--out', default='log_curves.png', help='output image')
    parser.add_argument('--title', help='figure title')
    parser.add_argument('--legend', nargs='+', help='one name per log')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logs = [load_log(p) for p in args.logs]
    if args.legend and len(args.legend) != len(logs):
        raise SystemExit(f'error: --legend needs {len(logs)} names (one per log), '
                         f'got {len(args.legend)}')
    keys = args.keys or default_keys(logs)
    if not keys:
        raise SystemExit('error: nothing to plot; available keys: '
                         + ', '.join(logs[0].available()))
    if args.keys:
        check_keys(logs, keys)
    out = plot(logs, keys, args.out, args.title, args.legend)
    print(f'saved {out} ({", ".join(keys)})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
