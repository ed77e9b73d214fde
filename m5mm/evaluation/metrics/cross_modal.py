"""Cross-modal retrieval (e.g. text -> image): Recall@K and mAP over the full ranking.

A query's positives are the gallery items of the same product id (``positive='id'``) or of
the same label, e.g. the same instance (``positive='label'``; labels < 0 never match). Nothing
is excluded: the same product's other modality is the item to find. Ties keep gallery order.
Recall@K = share of queries with a positive in the top K; AP = mean over the positives of
(#positives ranked at or above it) / its rank; queries without positives are skipped and
counted. Each query's whole row is sorted, so the cost is O(G log G) per query.
"""
from __future__ import annotations

import logging
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..topk import as_feature_tensor, prepare_similarity
from .retrieval import as_labels

logger = logging.getLogger(__name__)

POSITIVES = ('id', 'label')


def _codes(query_keys: Sequence, gallery_keys: Sequence) -> tuple:
    """Map ids (any hashable) to shared integer codes."""
    table: Dict[str, int] = {}
    g = torch.tensor([table.setdefault(str(x), len(table)) for x in gallery_keys], dtype=torch.long)
    q = torch.tensor([table.get(str(x), -1) for x in query_keys], dtype=torch.long)
    return q, g


def _present_mask(present, n: int, name: str) -> Optional[Tensor]:
    """(n,) bool tensor from ``present`` (array or tensor), or None."""
    if present is None:
        return None
    keep = torch.as_tensor(np.asarray(present.cpu() if isinstance(present, Tensor) else present, dtype=bool))
    if keep.shape != (n,):
        raise ValueError(f'{name} must have shape ({n},), got {tuple(keep.shape)}')
    return keep


def cross_modal_retrieval(query_features, gallery_features, *, query_ids: Optional[Sequence[str]] = None,
                          gallery_ids: Optional[Sequence[str]] = None, query_labels=None, gallery_labels=None,
                          positive: str = 'id', ks: Sequence[int] = (1, 5, 10), similarity: str = 'cosine',
                          query_present=None, gallery_present=None,
                          query_chunk: int = 256) -> Dict[str, float]:
    """Recall@K and mAP of (Q, D) queries of one modality against (G, D) items of another.

    Args:
        query_ids, gallery_ids: product ids (needed for ``positive='id'``).
        query_labels, gallery_labels: (Q,), (G,) int labels (needed for ``positive='label'``).
        positive: 'id' or 'label'. ks: Recall cut-offs. similarity: 'cosine' or 'dot'.
        query_present, gallery_present: optional (Q,), (G,) bool; rows of products that lack
            the modality are dropped first.
        query_chunk: queries sorted at once (memory ~ query_chunk x G).

    Returns:
        ``{'R@1': .., ..., 'mAP': ..}`` fractions (NaN when no query has a positive),
        plus ``'num_queries'`` and ``'num_evaluated'``.
    """
    if positive not in POSITIVES:
        raise ValueError(f'positive must be one of {POSITIVES}, got {positive!r}')
    query = as_feature_tensor(query_features, 'query_features')
    gallery = as_feature_tensor(gallery_features, 'gallery_features')
    if positive == 'id':
        if query_ids is None or gallery_ids is None:
            raise ValueError("positive='id' needs query_ids and gallery_ids")
        q_key, g_key = _codes(query_ids, gallery_ids)
    else:
        if query_labels is None or gallery_labels is None:
            raise ValueError("positive='label' needs query_labels and gallery_labels")
        q_key = torch.from_numpy(as_labels(query_labels, query.shape[0], 'query_labels'))
        g_key = torch.from_numpy(as_labels(gallery_labels, gallery.shape[0], 'gallery_labels'))
    for name, key, n in (('query keys', q_key, query.shape[0]), ('gallery keys', g_key, gallery.shape[0])):
        if key.shape[0] != n:
            raise ValueError(f'{name}: {key.shape[0]} entries for {n} feature rows')
    q_keep = _present_mask(query_present, query.shape[0], 'query_present')
    g_keep = _present_mask(gallery_present, gallery.shape[0], 'gallery_present')
    if q_keep is not None:
        query, q_key = query[q_keep], q_key[q_keep]
    if g_keep is not None:
        gallery, g_key = gallery[g_keep], g_key[g_keep]
    query, gallery = prepare_similarity(query, gallery, similarity)
    return _rank_all(query, gallery, q_key, g_key, sorted({int(k) for k in ks}), query_chunk)


@torch.no_grad()
def _rank_all(query: Tensor, gallery: Tensor, q_key: Tensor, g_key: Tensor, ks: Sequence[int],
              query_chunk: int) -> Dict[str, float]:
    recall = torch.zeros(len(ks), dtype=torch.float64)
    ap_sum, evaluated = 0.0, 0
    ranks = torch.arange(1, gallery.shape[0] + 1, dtype=torch.float64)
    for q0 in range(0, query.shape[0], query_chunk):
        q1 = min(q0 + query_chunk, query.shape[0])
        order = (query[q0:q1] @ gallery.T).argsort(dim=1, descending=True, stable=True)
        keys = q_key[q0:q1].unsqueeze(1)
        hits = (g_key[order] == keys) & (keys >= 0)
        num_pos = hits.sum(dim=1)
        valid = num_pos > 0
        if not bool(valid.any()):
            continue
        hits = hits[valid].to(torch.float64)
        ap = (hits * hits.cumsum(dim=1) / ranks).sum(dim=1) / num_pos[valid]
        ap_sum += float(ap.sum())
        evaluated += int(valid.sum())
        for col, k in enumerate(ks):
            recall[col] += float(hits[:, :k].amax(dim=1).sum()) if hits.shape[1] else 0.0
    num_q = query.shape[0]
    if evaluated < num_q:
        logger.info('cross-modal retrieval: %d of %d queries have no positive (skipped)',
                    num_q - evaluated, num_q)
    out = {f'R@{k}': float(recall[col] / evaluated) if evaluated else float('nan')
           for col, k in enumerate(ks)}
    out['mAP'] = ap_sum / evaluated if evaluated else float('nan')
    out['num_queries'] = num_q
    out['num_evaluated'] = evaluated
    return out
