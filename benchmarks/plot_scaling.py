"""Issue 22: frozen concat, (D) and (F) at the benchmark size and at 4x the records, from the committed results.

    python benchmarks/plot_scaling.py docs/issue22_scaling.png
"""
import json
import os
import statistics as st
import sys

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results')
ALIGN = json.load(open(os.path.join(RESULTS, 'issue22_alignment.json')))
LISTS = {name: json.load(open(os.path.join(RESULTS, f'{name}.json')))['cells']
         for name in ('issue22_real_towers', 'issue24_cross_listing')}
BIG = ('emoji2400', 'demo1600')
PANELS = [('coarse mAP@1', 'retrieval_coarse', 'mAP@1', 100), ('fine mAP@1', 'retrieval_fine', 'mAP@1', 100),
          ('presence gap', 'presence', 'gap', 1)]
GROUPS = [('emoji\n600', 'emoji'), ('emoji\n2400', 'emoji2400'), ('demo\n400', 'demo'), ('demo\n1600', 'demo1600')]
BARS = (('frozen concat', '#999999'), ('(D) shipped', '#1f77b4'), ('(F) warm-up', '#d62728'))


def cells(group: str, cat: str, row: str):
    return [m for name, m in ALIGN[group].items() if name.startswith(f'{cat}__{row}__seed')]


def listed(name: str, cat: str, row: str):
    return [c['metrics'] for c in LISTS[name] if c['catalogue'] == cat and c['row'] == row]


def source(label: str, cat: str):
    """The metrics of every seed of one bar."""
    if label == 'frozen concat':
        return cells('scaling_D_cells', cat, 'concat_all') if cat in BIG else \
            listed('issue22_real_towers', cat, 'concat_all')
    if label == '(D) shipped':
        return cells('scaling_D_cells', cat, 'scale_all') if cat in BIG else \
            listed('issue24_cross_listing', cat, 'scale_all')
    return cells('scaling_F_cells' if cat in BIG else 'F_cells', cat, 'scale_all')


def main(out: str) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (title, task, metric, scale) in zip(axes, PANELS):
        for j, (label, color) in enumerate(BARS):
            means, sds = [], []
            for _, cat in GROUPS:
                values = [scale * m[task][metric] for m in source(label, cat)]
                means.append(st.mean(values))
                sds.append(st.stdev(values) if len(values) > 1 else 0.0)
            xs = [i + (j - 1) * 0.27 for i in range(len(GROUPS))]
            ax.bar(xs, means, 0.27, yerr=sds, color=color, label=label, capsize=2)
        if task == 'presence':
            ax.axhline(0.05, color='k', lw=0.8, ls='--')
            ax.text(-0.4, 0.056, 'goal 0.05', fontsize=8)
        ax.set_xticks(range(len(GROUPS)))
        ax.set_xticklabels([g[0] for g in GROUPS])
        ax.set_title(title)
    axes[0].legend(fontsize=8, loc='lower right')
    fig.suptitle('Real towers, all five: benchmark size (3 seeds) vs 4x the records (3 seeds); '
                 'frozen concat has no training', fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'docs/issue22_scaling.png')
