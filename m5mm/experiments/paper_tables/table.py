"""Aggregating cell results over seeds and writing the paper-style markdown tables."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

#: The table's columns: (task key, metric key, header). The precision column is the paper's "Prec@K",
#: M5Prec@K = hits / min(K, #positives) (docs/evaluation.md), not the standard Prec@K.
COLUMNS: Tuple[Tuple[str, str, str], ...] = (
    ('retrieval_coarse', 'mAP@1', 'coarse mAP@1'), ('retrieval_coarse', 'mAP@10', 'coarse mAP@10'),
    ('retrieval_coarse', 'M5Prec@10', 'coarse M5Prec@10'), ('retrieval_fine', 'mAP@1', 'fine mAP@1'),
    ('retrieval_fine', 'mAP@10', 'fine mAP@10'), ('retrieval_fine', 'M5Prec@10', 'fine M5Prec@10'),
    ('classification', 'accuracy', 'accuracy'), ('clustering', 'NMI', 'NMI'), ('clustering', 'purity', 'purity'),
)


@dataclass
class Stat:
    """Mean and sample standard deviation (0 for one value) of one metric over seeds."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> 'Stat':
        n = len(values)
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        return cls(mean, std, n)

    def format(self, scale: float = 100.0) -> str:
        if self.n == 1:
            return f'{scale * self.mean:.1f}'
        return f'{scale * self.mean:.1f} ± {scale * self.std:.1f}'


Key = Tuple[str, str]   # (method, modality code)


def metric_value(metrics: Mapping[str, float], metric: str) -> Optional[float]:
    """``metrics[metric]``, or None. Results recorded before M5Prec@K had a name (no ``M5Prec@K`` and no
    ``Recall@K`` keys) stored it as ``Prec@K``, so those are read for ``M5Prec@K``."""
    if metric in metrics:
        return metrics[metric]
    if metric.startswith('M5Prec@'):
        k = metric.split('@', 1)[1]
        if f'Recall@{k}' not in metrics and f'Prec@{k}' in metrics:
            return metrics[f'Prec@{k}']
    return None


def aggregate(results: Sequence[Mapping[str, Any]]) -> Dict[Key, Dict[str, Any]]:
    """Group cell results by (method, modality code): ``seeds``, ``label`` and a :class:`Stat`
    per column header (columns a result lacks are left out)."""
    groups: Dict[Key, List[Mapping[str, Any]]] = {}
    for result in results:
        groups.setdefault((result['method'], result['code']), []).append(result)
    out: Dict[Key, Dict[str, Any]] = {}
    for key, rows in groups.items():
        entry: Dict[str, Any] = {'label': rows[0]['label'], 'seeds': sorted(r['seed'] for r in rows), 'stats': {}}
        for task, metric, header in COLUMNS:
            values = [v for v in (metric_value(r['metrics'].get(task, {}), metric) for r in rows) if v is not None]
            if len(values) == len(rows):
                entry['stats'][header] = Stat.of(values)
        out[key] = entry
    return out


def markdown_table(rows: Sequence[Tuple[str, Mapping[str, Any]]], first_header: str) -> str:
    """A markdown table: one row per (name, aggregate entry), the best mean per column in bold."""
    headers = [h for _, _, h in COLUMNS if any(h in entry['stats'] for _, entry in rows)]
    best = {h: max(entry['stats'][h].mean for _, entry in rows if h in entry['stats']) for h in headers}
    lines = ['| ' + ' | '.join([first_header, 'seeds'] + headers) + ' |',
             '|' + '---|' * (len(headers) + 2)]
    for name, entry in rows:
        cells = []
        for h in headers:
            stat = entry['stats'].get(h)
            text = '' if stat is None else stat.format()
            cells.append(f'**{text}**' if stat is not None and len(rows) > 1 and stat.mean == best[h] else text)
        lines.append('| ' + ' | '.join([name, str(len(entry['seeds']))] + cells) + ' |')
    return '\n'.join(lines)


TABLE_KINDS = ('methods', 'modalities')


def comparison_tables(agg: Mapping[Key, Mapping[str, Any]], methods: Sequence[str], codes: Sequence[str],
                      kinds: Sequence[str] = TABLE_KINDS) -> List[Dict[str, Any]]:
    """The paper's two table shapes from ``agg``: ``'methods'``, a method comparison per modality
    set that has several methods; ``'modalities'``, a modality ablation per method that has several
    modality sets (one table of every row when neither exists). Each table: ``title``, ``kind``,
    ``rows`` [(name, entry)] in the order of ``methods`` / ``codes``, ``markdown``."""
    unknown = sorted(set(kinds) - set(TABLE_KINDS))
    if unknown:
        raise ValueError(f'unknown table kinds {unknown}; choose from {TABLE_KINDS}')
    tables = []
    for code in codes if 'methods' in kinds else ():
        rows = [(agg[(m, code)]['label'], agg[(m, code)]) for m in methods if (m, code) in agg]
        if len(rows) > 1:
            tables.append(dict(title=f'Method comparison, modalities {code}', rows=rows, kind='methods'))
    for method in methods if 'modalities' in kinds else ():
        rows = [(code, agg[(method, code)]) for code in codes if (method, code) in agg]
        if len(rows) > 1:
            tables.append(dict(title=f'Modality ablation, {rows[0][1]["label"]}', rows=rows, kind='modalities'))
    if not tables and agg:
        rows = [(f'{entry["label"]}, {code}', entry) for (m, code), entry in agg.items()]
        tables.append(dict(title='Results', rows=rows, kind='cells'))
    for table in tables:
        first = {'methods': 'method', 'modalities': 'modalities'}.get(table['kind'], 'cell')
        table['markdown'] = markdown_table(table['rows'], first)
    return tables


def format_report(tables: Sequence[Mapping[str, Any]], spec: Mapping[str, Any], num_cells: int,
                  total_cells: int) -> str:
    """The ``table.md`` text: a header naming the setup, then every table."""
    head = [f'# Benchmark ({num_cells}/{total_cells} cells)', '',
            f'Budget {spec["budget"]} per cell, seeds {", ".join(map(str, spec["seeds"]))}, config size '
            f'{spec["size"]}, data {spec["data_root"]}'
            + (f', options {spec["cfg_options"]}' if spec.get('cfg_options') else '') + '.',
            'Values in %, mean ± sample std over seeds; best mean per column in bold. Retrieval: query -> '
            'gallery (coarse = same category, fine = same product); M5Prec@10 = hits in the top 10 / min(10, '
            '#positives), the paper\'s "Prec@10"; accuracy: linear probe; NMI / purity: '
            'k-means on the query + gallery features.', '']
    body = []
    for table in tables:
        body += [f'## {table["title"]}', '', table['markdown'], '']
    return '\n'.join(head + body)
