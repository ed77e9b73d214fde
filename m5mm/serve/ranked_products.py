"""Search results of a catalogue index as product rows (id, score, title, category, modalities) and as text."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

from .catalogue_index import CatalogueIndex


def ranked_products(catalogue: CatalogueIndex, ids: Sequence[str], scores: Sequence[float]) -> List[Dict[str, Any]]:
    """One row per hit, best first: ``rank``, ``id``, ``score``, ``title``, ``category`` and ``modalities``
    (the modalities the indexed product has)."""
    facts = catalogue.products.many(list(ids))
    rows = []
    for rank, (pid, score) in enumerate(zip(ids, scores), start=1):
        row = facts.get(pid) or {}
        rows.append(dict(rank=rank, id=pid, score=float(score), title=row.get('title'), category=row.get('category'),
                         modalities=[m for m in (row.get('modalities') or '').split(',') if m]))
    return rows


def format_ranked_products(rows: Sequence[Dict[str, Any]]) -> str:
    """Aligned text table of :func:`ranked_products` rows (title last, as it is the longest)."""
    header = ['rank', 'id', 'score', 'category', 'modalities', 'title']
    cells = [[str(r['rank']), str(r['id']), f'{r["score"]:.4f}', str(r['category'] or '-'),
              ','.join(r['modalities']) or '-', str(r['title'] or '-')] for r in rows]
    widths = [max(len(line[i]) for line in [header] + cells) for i in range(len(header) - 1)]
    lines = []
    for line in [header] + cells:
        lines.append('  '.join([c.rjust(w) if i in (0, 2) else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))]
                               + [line[-1]]))
    return '\n'.join(lines) if rows else 'no results'
