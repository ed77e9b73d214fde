"""Text queries with graded relevance judgements: the query file of text -> product retrieval.

A JSON-lines file, one query per line::

    {"id": "q001", "text": "red sneakers", "relevance": {"D00012": 2, "D00031": 1}}

``id`` (optional, default ``q<line>``) names the query; ``text`` is what a user types; ``relevance``
maps product ids to grades (numbers >= 0, higher = more relevant; products not listed are not
relevant). The demo catalogue writes one as ``DATA_ROOT/queries.jsonl``.
"""
from __future__ import annotations

import json
import math
import os
from typing import Iterable, List, Mapping

from .errors import ManifestError

DEFAULT_QUERY_FILE = 'queries.jsonl'


def _check_query(raw: object, lineno: int) -> dict:
    if not isinstance(raw, dict):
        raise ValueError(f'expected a JSON object, got {type(raw).__name__}')
    text = raw.get('text')
    if not isinstance(text, str) or not text.strip():
        raise ValueError('"text" must be a non-empty string')
    relevance = raw.get('relevance')
    if not isinstance(relevance, dict):
        raise ValueError('"relevance" must be an object {product id: grade}')
    for pid, grade in relevance.items():
        if isinstance(grade, bool) or not isinstance(grade, (int, float)) or not math.isfinite(grade) \
                or grade < 0:
            raise ValueError(f'grade of {pid!r} must be a number >= 0, got {grade!r}')
    query_id = raw.get('id', f'q{lineno}')
    if isinstance(query_id, bool) or not isinstance(query_id, (str, int)):
        raise ValueError(f'"id" must be a string, got {query_id!r}')
    return dict(id=str(query_id), text=text.strip(), relevance={str(k): float(v) for k, v in relevance.items()})


def load_query_file(path: str) -> List[dict]:
    """Queries of a query file: ``[{'id', 'text', 'relevance': {product id: grade}}]``.

    Raises:
        FileNotFoundError: no such file. ManifestError: a malformed line (named), a duplicate id.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'no query file at {path} (see m5mm.datasets.query_file for the format)')
    queries, seen = [], set()
    with open(path, encoding='utf-8') as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                query = _check_query(json.loads(line), lineno)
            except (ValueError, json.JSONDecodeError) as exc:
                raise ManifestError(f'{path}:{lineno}: {exc}') from None
            if query['id'] in seen:
                raise ManifestError(f'{path}:{lineno}: duplicate query id {query["id"]!r}')
            seen.add(query['id'])
            queries.append(query)
    if not queries:
        raise ManifestError(f'{path} holds no query')
    return queries


def write_query_file(path: str, queries: Iterable[Mapping]) -> str:
    """Write ``queries`` (dicts with id, text, relevance) as a query file; returns the path."""
    with open(path, 'w', encoding='utf-8') as handle:
        for query in queries:
            handle.write(json.dumps(dict(id=query['id'], text=query['text'], relevance=dict(query['relevance'])),
                                    ensure_ascii=False) + '\n')
    return path
