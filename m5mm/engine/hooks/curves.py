"""``WORK_DIR/curves.png``: the training losses per step (``metrics.jsonl``) and the per-epoch evaluation
metrics (``eval_epoch_<n>.json``, when the evaluation runs every epoch), redrawn after each epoch."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

#: The evaluation metrics drawn, when a result has them.
EVAL_METRICS = ('mAP@1', 'mAP@10', 'accuracy', 'NMI')
_EVAL_FILE = re.compile(r'eval_epoch_(\d+)\.json$')


def read_loss_rows(path: Path) -> List[dict]:
    """The rows of a ``metrics.jsonl`` (unreadable lines skipped: a run may be writing the last one)."""
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get('step'), int):
                rows.append(row)
    return rows


def read_eval_points(work_dir: Path) -> Dict[str, List[Tuple[int, float]]]:
    """``'<result> <metric>'`` -> [(epoch number from 1, value)] of the ``eval_epoch_<n>.json`` files."""
    series: Dict[str, List[Tuple[int, float]]] = {}
    files = sorted((int(m.group(1)), p) for p in work_dir.glob('eval_epoch_*.json')
                   if (m := _EVAL_FILE.search(p.name)))
    for epoch, path in files:
        try:
            document = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        for result, metrics in document.items():
            if not isinstance(metrics, dict):
                continue
            for metric in EVAL_METRICS:
                if isinstance(metrics.get(metric), (int, float)):
                    series.setdefault(f'{result} {metric}', []).append((epoch + 1, float(metrics[metric])))
    return series


def plot_curves(work_dir, path=None) -> bool:
    """Draw the loss terms (and the evaluation metrics, when any) of ``work_dir`` to ``path``
    (default ``WORK_DIR/curves.png``); False (nothing written) when no loss has been logged yet."""
    work_dir = Path(work_dir)
    rows = read_loss_rows(work_dir / 'metrics.jsonl')
    if not rows:
        return False
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    evals = read_eval_points(work_dir)
    fig, axes = plt.subplots(1, 2 if evals else 1, figsize=(11 if evals else 6, 3.5), squeeze=False)
    ax = axes[0][0]
    keys = ['loss'] + sorted({k for r in rows for k in r if k.startswith('loss_')})
    for key in keys:
        points = [(r['step'], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        if points:
            ax.plot(*zip(*points), label=key, linewidth=2.0 if key == 'loss' else 1.0,
                    marker='.' if len(points) < 20 else None)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel('step')
    ax.set_ylabel('training loss (logged average)')
    ax.set_title('Training losses')
    ax.legend(fontsize='small')
    if evals:
        ax = axes[0][1]
        for name, points in sorted(evals.items()):
            ax.plot(*zip(*[(e, 100 * v) for e, v in points]), marker='o', label=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel('epoch')
        ax.set_ylabel('%')
        ax.set_title('Evaluation (test splits)')
        ax.legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(path or work_dir / 'curves.png', dpi=100)
    plt.close(fig)
    return True
