"""Grouped bar charts of the benchmark tables (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np

from .table import COLUMNS


def plot_tables(tables: Sequence[Mapping[str, Any]], path: Union[str, Path], *, title: str = '') -> Path:
    """One panel per table: bars grouped by metric, one bar per row, error bars = std over seeds."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    headers = [h for _, _, h in COLUMNS]
    fig, axes = plt.subplots(len(tables), 1, figsize=(15, 3.6 * len(tables)), squeeze=False)
    for ax, table in zip(axes[:, 0], tables):
        rows = table['rows']
        width = 0.8 / max(1, len(rows))
        x = np.arange(len(headers))
        for k, (name, entry) in enumerate(rows):
            stats = [entry['stats'].get(h) for h in headers]
            means = [100 * s.mean if s else np.nan for s in stats]
            stds = [100 * s.std if s else 0.0 for s in stats]
            ax.bar(x + (k - (len(rows) - 1) / 2) * width, means, width, yerr=stds if any(stds) else None,
                   capsize=2, label=f'{name} (n={len(entry["seeds"])})')
        ax.set_xticks(x)
        ax.set_xticklabels(headers, fontsize=8)
        ax.set_ylabel('%')
        ax.set_ylim(0, 100)
        ax.set_title(table['title'], fontsize=10)
        ax.grid(axis='y', alpha=0.3)
        ax.legend(fontsize=7, loc='center left', bbox_to_anchor=(1.0, 0.5))
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
