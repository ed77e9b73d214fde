"""Text queries of the demo catalogue, judged from the products' latent factors.

Two kinds of query over the ``gallery`` split, each graded 2 (exact) / 1 (partial) / 0:

- ``"{noun}"`` (a category's usual noun, e.g. "teapot"): its category 2, its department 1;
- ``"{colour} {noun}"`` for each colour a gallery SKU of that category has: that category in
  that colour 2, the category in another colour 1.

Grades come from the design (category, department, SKU colour), not from the titles, so a
product whose title is noisy or absent is still judged by what it is.
"""
from __future__ import annotations

from typing import List

from .catalogue import NOUNS
from .design import CATEGORIES
from .plan import PlannedRecord

GALLERY_SPLIT = 'gallery'


def _department(record: PlannedRecord) -> str:
    return CATEGORIES[record.instance.category].department


def make_queries(records: List[PlannedRecord]) -> List[dict]:
    """Query file entries (``id``, ``text``, ``relevance``) for the gallery records of ``records``."""
    gallery = [r for r in records if r.split == GALLERY_SPLIT]
    queries: List[dict] = []
    for spec in CATEGORIES:
        members = [r for r in gallery if r.category == spec.name]
        if not members:
            continue
        noun = NOUNS[spec.name][0]
        relevance = {r.id: 2 if r.category == spec.name else 1 for r in gallery
                     if r.category == spec.name or _department(r) == spec.department}
        queries.append(dict(text=noun, relevance=relevance))
        for color in sorted({r.instance.color for r in members}):
            relevance = {r.id: 2 if r.instance.color == color else 1 for r in members}
            queries.append(dict(text=f'{color} {noun}', relevance=relevance))
    return [dict(id=f'q{k:03d}', **query) for k, query in enumerate(queries)]
