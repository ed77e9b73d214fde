"""Writing ``results.json``, ``table.md`` and ``plot.png`` from the finished cells."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, List, Mapping, Sequence

from .modality_sets import modality_code
from .plot import plot_tables
from .table import TABLE_KINDS, aggregate, comparison_tables, format_report


def _plan_order(spec: Mapping[str, Any]):
    codes = [modality_code(m) for m in spec['modality_sets']]
    return list(spec['methods']), codes


def load_results(out_dir) -> List[dict]:
    """Every finished cell's ``result.json`` under ``out_dir/cells`` (any invocation's), by name."""
    paths = sorted(Path(out_dir, 'cells').glob('*/result.json'))
    return [json.loads(p.read_text()) for p in paths]


def write_report(results: Sequence[Mapping[str, Any]], spec: Mapping[str, Any], out_dir, *,
                 final: bool = True) -> str:
    """Write the three files into ``out_dir`` and return the markdown tables (``table.md``);
    ``spec['tables']`` (default both) picks the table kinds."""
    out_dir = Path(out_dir)
    methods, codes = _plan_order(spec)
    total = len(methods) * len(codes) * len(spec['seeds'])
    agg = aggregate(results)
    tables = comparison_tables(agg, methods, codes, kinds=spec.get('tables') or TABLE_KINDS)
    text = format_report(tables, spec, len(results), total)
    summary = {f'{m}|{c}': dict(label=e['label'], seeds=e['seeds'],
                                stats={h: dict(mean=s.mean, std=s.std, n=s.n) for h, s in e['stats'].items()})
               for (m, c), e in agg.items()}
    data = dict(benchmark=spec, complete=final and len(results) == total, cells=list(results), summary=summary)
    tmp = out_dir / 'results.json.tmp'
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, out_dir / 'results.json')
    (out_dir / 'table.md').write_text(text)
    if tables:
        plot_tables(tables, out_dir / 'plot.png', title=f'budget {spec["budget"]}, size {spec["size"]}')
    return text
