"""M5Product retrieval metrics: mAP@K, Prec@K, Recall@K and M5Prec@K of a query set against a gallery.

Protocol (docs/evaluation.md has the formulas):

* score = dot product of the features (``similarity='cosine'`` L2-normalises them first);
* a gallery item is a positive of a query when their labels are equal (category for
  coarse retrieval, instance for fine retrieval); labels < 0 mean "unknown" and never match;
* a gallery item with the query's own id is removed from that query's ranking;
* ties in score keep gallery order (stable sort);
* with H_K = hits in the top K and K' = min(K, #positives, list length):
  Prec@K = H_K / K (the standard precision at K), Recall@K = H_K / #positives,
  M5Prec@K = H_K / K' (what the M5Product/Product1M toolkit and paper call "Prec@K"),
  AP@K = sum of the precision at each hit within the top K / H_K (0 without hits);
* queries without any positive are skipped and counted (``no_positive='skip'``, the
  M5Product toolkit assumes every query has one) or scored 0 (``no_positive='zero'``).

``cutoff='k_prime'`` reproduces the Product1M/M5Product toolkit code, which counts hits of
AP@K and M5Prec@K within the top K' instead of the top K (Prec@K and Recall@K always use the top K).
"""
from __future__ import annotations

import logging
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from ..topk import (DEFAULT_GALLERY_CHUNK, DEFAULT_QUERY_CHUNK, as_feature_tensor, exact_topk,
                    prepare_similarity)

logger = logging.getLogger(__name__)

DEFAULT_KS = (1, 5, 10, 50, 100)
NO_POSITIVE = ('skip', 'zero')
CUTOFFS = ('k', 'k_prime')
#: The metric families, in the order of the returned dict.
MEASURES = ('mAP', 'Prec', 'Recall', 'M5Prec')


def as_labels(labels, n: int, name: str) -> np.ndarray:
    """(N,) integer labels as int64; raises on a wrong length or a non-integer dtype."""
    arr = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f'{name} must have shape ({n},), got {arr.shape}')
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f'{name} must be integers (label indices, -1 for unknown), got dtype {arr.dtype}')
    return arr.astype(np.int64)


def same_id_pairs(query_ids: Optional[Sequence[str]], gallery_ids: Optional[Sequence[str]]
                  ) -> Tuple[Tensor, Tensor]:
    """(query row, gallery column) pairs whose ids are equal: the items left out of a ranking."""
    rows, cols = [], []
    if query_ids is not None and gallery_ids is not None:
        where: Dict[str, list] = {}
        for j, gid in enumerate(gallery_ids):
            where.setdefault(str(gid), []).append(j)
        for i, qid in enumerate(query_ids):
            for j in where.get(str(qid), ()):
                rows.append(i)
                cols.append(j)
    return torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)


def _positive_counts(q_labels: np.ndarray, g_labels: np.ndarray, excl: Tuple[Tensor, Tensor]) -> np.ndarray:
    """#gallery items sharing each query's label (>= 0), minus the excluded ones."""
    values, counts = np.unique(g_labels[g_labels >= 0], return_counts=True)
    npos = np.zeros(len(q_labels), dtype=np.int64)
    if len(values):
        pos = np.clip(np.searchsorted(values, q_labels), 0, len(values) - 1)
        found = (q_labels >= 0) & (values[pos] == q_labels)
        npos[found] = counts[pos[found]]
    rows, cols = excl[0].numpy(), excl[1].numpy()
    if rows.size:
        same = (g_labels[cols] == q_labels[rows]) & (q_labels[rows] >= 0)
        np.subtract.at(npos, rows[same], 1)
    return npos


def per_query_scores(hits: Tensor, num_pos: Tensor, list_len: Tensor, ks: Sequence[int],
                     cutoff: str = 'k') -> Dict[str, Tensor]:
    """AP@K, Prec@K, Recall@K and M5Prec@K of every query from its ranked hit list.

    Args:
        hits: (Q, L) bool, hit at each rank (False beyond a query's list length).
        num_pos: (Q,) positives per query. list_len: (Q,) ranked items per query.
        ks: the cut-offs K. cutoff: 'k' (this protocol) or 'k_prime' (toolkit code, AP and M5Prec only).

    Returns:
        :data:`MEASURES` name -> (Q, len(ks)) float64; NaN for queries without positives.
    """
    num_q, width = hits.shape
    h = hits.to(torch.float64)
    cum = h.cumsum(dim=1)
    ranks = torch.arange(1, width + 1, dtype=torch.float64)
    prec_sum = (h * cum / ranks).cumsum(dim=1)
    out = {name: torch.full((num_q, len(ks)), float('nan'), dtype=torch.float64) for name in MEASURES}
    has_pos = num_pos > 0
    positives = num_pos.to(torch.float64).clamp_min(1)

    def at(table: Tensor, window: Tensor) -> Tensor:
        if width == 0:
            return torch.zeros(num_q, dtype=torch.float64)
        return table.gather(1, (window - 1).clamp_min(0).clamp_max(width - 1).unsqueeze(1)).squeeze(1)

    for col, k in enumerate(ks):
        k_prime = torch.minimum(torch.minimum(num_pos, list_len), torch.tensor(k)).clamp_min(1)
        top_k = torch.full((num_q,), min(k, width), dtype=torch.long)
        window = top_k if cutoff == 'k' else k_prime.clamp_max(width)
        hits_k, n_hits, s_prec = at(cum, top_k), at(cum, window), at(prec_sum, window)
        values = dict(mAP=torch.where(n_hits > 0, s_prec / n_hits.clamp_min(1), torch.zeros_like(n_hits)),
                      Prec=hits_k / k, Recall=hits_k / positives, M5Prec=n_hits / k_prime.to(torch.float64))
        for name, value in values.items():
            out[name][:, col] = torch.where(has_pos, value, out[name][:, col])
    return out


def retrieval_metrics(query_features, gallery_features, query_labels, gallery_labels, *,
                      query_ids: Optional[Sequence[str]] = None, gallery_ids: Optional[Sequence[str]] = None,
                      ks: Sequence[int] = DEFAULT_KS, similarity: str = 'dot', no_positive: str = 'skip',
                      cutoff: str = 'k', query_chunk: int = DEFAULT_QUERY_CHUNK,
                      gallery_chunk: int = DEFAULT_GALLERY_CHUNK, return_counts: bool = False):
    """mAP@K, Prec@K, Recall@K and M5Prec@K of ``query_features`` (Q, D) against ``gallery_features`` (G, D).

    Args:
        query_labels: (Q,) int, gallery_labels: (G,) int; -1 = unknown (never a positive).
        query_ids, gallery_ids: when both are given, a gallery item with the query's id is
            removed from that query's ranking.
        ks: cut-offs. similarity: 'dot' or 'cosine'. no_positive: 'skip' or 'zero'.
        cutoff: 'k' (hits within the top K) or 'k_prime' (AP@K and M5Prec@K count hits within the
            top K', as the toolkit code does).
        query_chunk, gallery_chunk: block sizes of the chunked search.
        return_counts: also return ``{'num_queries', 'num_evaluated', 'num_without_positive'}``.

    Returns:
        ``{'mAP@1': .., ..., 'Prec@1': .., ..., 'Recall@1': .., ..., 'M5Prec@1': .., ...}`` fractions
        in [0, 1] (NaN when no query is evaluated), and the counts dict when ``return_counts``.
        Prec@K = hits in the top K / K; Recall@K = hits in the top K / #positives; M5Prec@K = hits /
        min(K, #positives, list length), the toolkit's "Prec@K"; mAP@K divides by the hits (docs/evaluation.md).
    """
    if no_positive not in NO_POSITIVE:
        raise ValueError(f'no_positive must be one of {NO_POSITIVE}, got {no_positive!r}')
    if cutoff not in CUTOFFS:
        raise ValueError(f'cutoff must be one of {CUTOFFS}, got {cutoff!r}')
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f'ks must be positive integers, got {ks}')
    query = as_feature_tensor(query_features, 'query_features')
    gallery = as_feature_tensor(gallery_features, 'gallery_features')
    query, gallery = prepare_similarity(query, gallery, similarity)
    q_labels = as_labels(query_labels, query.shape[0], 'query_labels')
    g_labels = as_labels(gallery_labels, gallery.shape[0], 'gallery_labels')
    for name, ids, n in (('query_ids', query_ids, query.shape[0]),
                         ('gallery_ids', gallery_ids, gallery.shape[0])):
        if ids is not None and len(ids) != n:
            raise ValueError(f'{name} has {len(ids)} entries for {n} feature rows')

    excl = same_id_pairs(query_ids, gallery_ids)
    num_pos = torch.from_numpy(_positive_counts(q_labels, g_labels, excl))
    list_len = gallery.shape[0] - torch.bincount(excl[0], minlength=query.shape[0])
    _, top = exact_topk(query, gallery, ks[-1], exclude=excl if excl[0].numel() else None,
                        query_chunk=query_chunk, gallery_chunk=gallery_chunk)
    g_lab = torch.from_numpy(g_labels)
    q_lab = torch.from_numpy(q_labels).unsqueeze(1)
    in_list = torch.arange(top.shape[1]).unsqueeze(0) < list_len.unsqueeze(1)
    hits = (g_lab[top] == q_lab) & (q_lab >= 0) & in_list
    tables = per_query_scores(hits, num_pos, list_len, ks, cutoff)
    metrics, counts = summarize(tables, ks, no_positive)
    return (metrics, counts) if return_counts else metrics


def summarize(tables: Dict[str, Tensor], ks: Sequence[int], no_positive: str = 'skip'
              ) -> Tuple[Dict[str, float], Dict[str, int]]:
    """Average per-query (Q, len(ks)) tables (name -> values, NaN = no positive) into the metrics dict."""
    first = next(iter(tables.values()))
    valid = ~torch.isnan(first[:, 0]) if first.numel() else torch.zeros(first.shape[0], dtype=torch.bool)
    if no_positive == 'zero':
        tables, used = {name: t.nan_to_num(0.0) for name, t in tables.items()}, torch.ones_like(valid)
    else:
        used = valid
    counts = {'num_queries': int(first.shape[0]), 'num_evaluated': int(used.sum()),
              'num_without_positive': int((~valid).sum())}
    if counts['num_without_positive']:
        logger.info('retrieval: %d of %d queries have no positive in the gallery (%s)',
                    counts['num_without_positive'], counts['num_queries'],
                    'skipped' if no_positive == 'skip' else 'scored 0')
    if counts['num_evaluated'] == 0:
        logger.warning('retrieval: no query has a positive in the gallery; metrics are NaN')
    metrics: Dict[str, float] = {}
    for name, table in tables.items():
        for col, k in enumerate(ks):
            mean = float(table[used, col].mean()) if counts['num_evaluated'] else float('nan')
            metrics[f'{name}@{k}'] = mean
    return metrics, counts
