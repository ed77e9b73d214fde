"""Retrieval with product vectors cut to their first d dimensions (a Matryoshka-trained joint vector)."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

#: how many dimensions of a vector the prefix tables report (the full width is added)
DEFAULT_PREFIXES = (32, 64, 128, 256)


def prefix_dims(width: int, dims: Sequence[int] = DEFAULT_PREFIXES) -> List[int]:
    """``dims`` below ``width``, then ``width`` itself."""
    return [d for d in dims if d < width] + [int(width)]


def cut_features(features: np.ndarray, dim: int) -> np.ndarray:
    """(N, D) -> (N, dim): the first ``dim`` coordinates, L2-normalised (zero rows stay zero)."""
    cut = np.asarray(features, np.float32)[:, :dim]
    return cut / np.maximum(np.linalg.norm(cut, axis=1, keepdims=True), 1e-12)


def prefix_retrieval(features_by_split: Mapping[str, Mapping[str, Any]], *, dims: Sequence[int] = DEFAULT_PREFIXES,
                     query_split: str = 'query', gallery_split: str = 'gallery') -> List[Dict[str, Any]]:
    """Coarse / fine retrieval (mAP@1, mAP@10) of the query split against the gallery at each prefix size.

    Returns:
        One row per dim of :func:`prefix_dims`: ``dim``, bytes per product stored as float32 / int8 / bits,
        ``retrieval_coarse`` and ``retrieval_fine`` ({'mAP@1': .., 'mAP@10': ..}, fractions).
    """
    from .tasks.retrieval_task import RetrievalTask
    task = RetrievalTask(query_split=query_split, gallery_split=gallery_split, ks=(1, 10))
    width = int(np.asarray(features_by_split[query_split]['features']).shape[1])
    rows = []
    for dim in prefix_dims(width, dims):
        cut = {split: dict(features_by_split[split], features=cut_features(features_by_split[split]['features'], dim))
               for split in (query_split, gallery_split)}
        results = task(cut).results
        rows.append(dict(dim=dim, bytes_float32=4 * dim, bytes_int8=dim, bytes_binary=math.ceil(dim / 8),
                         **{name: {k: float(v) for k, v in metrics.items() if k.startswith('mAP@')}
                            for name, metrics in results.items()}))
    return rows
