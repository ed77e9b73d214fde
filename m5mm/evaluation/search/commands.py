"""What ``tools/search_index.py`` does: build an index from a features file, query it, print results."""
from __future__ import annotations

import logging
from typing import List, Optional

import numpy as np

from ..features import load_features
from .search_index import SearchIndex, SearchResult

logger = logging.getLogger(__name__)


def build_index_from_features(features_path: str, out_dir: str, *, index_type: str = 'flat',
                              metric: str = 'ip', backend: str = 'auto', **options) -> SearchIndex:
    """Index the ``features`` of an exported .npz by its ``ids`` and save it to ``out_dir``."""
    data = load_features(features_path)
    index = SearchIndex.build(data['features'], data['ids'], index_type=index_type, metric=metric,
                              backend=backend, **options)
    index.save(out_dir)
    logger.info('indexed %d products (%s, %s backend) into %s', len(index), index_type, index.backend,
                out_dir)
    return index


def query_vectors(index: SearchIndex, *, pid: Optional[str] = None, features_path: Optional[str] = None,
                  vector_path: Optional[str] = None) -> tuple:
    """The query vectors (Q, D) and the id each query leaves out of its results.

    Exactly one source: ``pid`` (looked up in ``features_path`` when given, else in the
    index) or ``vector_path`` (a .npy of shape (D,) or (Q, D), a new product's features).
    """
    if (pid is None) == (vector_path is None):
        raise ValueError('give exactly one of an id or a vector file')
    if vector_path is not None:
        vectors = np.load(vector_path, allow_pickle=False)
        vectors = vectors[None] if vectors.ndim == 1 else vectors
        return vectors, [None] * len(vectors)
    if features_path is None:
        return index.vector(pid)[None], [pid]
    data = load_features(features_path)
    if pid not in data['ids']:
        raise KeyError(f'id {pid!r} is not in {features_path} ({len(data["ids"])} products)')
    return data['features'][data['ids'].index(pid)][None], [pid]


def query_index(index_dir: str, *, pid: Optional[str] = None, features_path: Optional[str] = None,
                vector_path: Optional[str] = None, topk: int = 10,
                include_self: bool = False) -> SearchResult:
    """Load the index in ``index_dir`` and search it (see :func:`query_vectors`)."""
    index = SearchIndex.load(index_dir)
    vectors, exclude = query_vectors(index, pid=pid, features_path=features_path, vector_path=vector_path)
    return index.search(vectors, topk, exclude_ids=None if include_self else exclude)


def format_search_result(result: SearchResult) -> str:
    """One block per query: rank, id and score per line."""
    blocks: List[str] = []
    for q, ids in enumerate(result.ids):
        lines = [f'query {q}:' if len(result.ids) > 1 else 'rank  id  score']
        if len(result.ids) > 1:
            lines.append('rank  id  score')
        lines += [f'{r + 1:>4}  {pid}  {result.scores[q, r]:.6f}' for r, pid in enumerate(ids)]
        blocks.append('\n'.join(lines))
    return '\n\n'.join(blocks)
