"""Exact, chunked, deterministic top-k search by inner product (fp32 matmul + ``torch.topk``).

The full (Q, G) score matrix is never held: queries are processed in blocks of
``query_chunk`` rows against gallery blocks of ``gallery_chunk`` columns, each block keeps
its top k and the blocks are merged. The ranking is **deterministic**: scores are sorted in
descending order and equal scores keep gallery order (the lower gallery index ranks first),
exactly as a stable sort of the whole row would; ``torch.topk`` alone does not promise which
of several tied entries it returns, so a block whose k-th score is tied beyond the selection
is re-ranked with a stable sort.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

ArrayLike = Union[np.ndarray, Tensor, Sequence]

SIMILARITIES = ('dot', 'cosine')
DEFAULT_QUERY_CHUNK = 1024
DEFAULT_GALLERY_CHUNK = 16384


def as_feature_tensor(x: ArrayLike, name: str = 'features') -> Tensor:
    """Convert ``x`` to a contiguous (N, D) float32 tensor, refusing NaN or infinite values."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    if t.dim() != 2:
        raise ValueError(f'{name} must be a 2-D (N, D) array, got shape {tuple(t.shape)}')
    if not t.is_floating_point():
        raise TypeError(f'{name} must be floating point, got {t.dtype}')
    t = t.detach().to(torch.float32).contiguous()
    if t.numel() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).any(dim=1).sum())
        raise ValueError(f'{name} has {bad} row(s) with NaN or infinite values')
    return t


def l2_normalize(x: Tensor, eps: float = 1e-12) -> Tensor:
    """Rows of ``x`` (N, D) scaled to unit L2 norm; all-zero rows stay zero."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(eps)


def prepare_similarity(query: Tensor, gallery: Tensor, similarity: str) -> Tuple[Tensor, Tensor]:
    """Apply ``similarity`` ('dot' keeps the vectors, 'cosine' L2-normalises both sides)."""
    if similarity not in SIMILARITIES:
        raise ValueError(f'similarity must be one of {SIMILARITIES}, got {similarity!r}')
    if query.shape[1] != gallery.shape[1]:
        raise ValueError(f'query dim {query.shape[1]} != gallery dim {gallery.shape[1]}')
    if similarity == 'cosine':
        return l2_normalize(query), l2_normalize(gallery)
    return query, gallery


def stable_desc_order(values: Tensor, indices: Tensor) -> Tuple[Tensor, Tensor]:
    """Sort (R, k) ``values`` descending, ties by ascending ``indices``; returns both reordered."""
    by_index = indices.argsort(dim=1, stable=True)
    values, indices = values.gather(1, by_index), indices.gather(1, by_index)
    by_value = values.argsort(dim=1, descending=True, stable=True)
    return values.gather(1, by_value), indices.gather(1, by_value)


def block_topk(scores: Tensor, k: int, deterministic: bool = True) -> Tuple[Tensor, Tensor]:
    """Top ``k`` of each row of ``scores`` (R, C) -> values, column indices (R, k), ranked."""
    if not deterministic or k >= scores.shape[1]:
        values, indices = scores.topk(k, dim=1, largest=True, sorted=False)
        return stable_desc_order(values, indices)
    # One extra entry tells whether the k-th score is tied beyond the selection; only then can
    # topk have kept an arbitrary one of the tied entries, and the row is ranked by a stable sort.
    values, indices = scores.topk(k + 1, dim=1, largest=True, sorted=True)
    tied = values[:, k] == values[:, k - 1]
    values, indices = stable_desc_order(values[:, :k], indices[:, :k])
    if bool(tied.any()):
        rows = tied.nonzero().squeeze(1)
        order = scores[rows].argsort(dim=1, descending=True, stable=True)[:, :k]
        values[rows] = scores[rows].gather(1, order)
        indices[rows] = order
    return values, indices


def _exclusion_for_block(exclude: Optional[Tuple[Tensor, Tensor]], q0: int, q1: int,
                         g0: int, g1: int) -> Optional[Tuple[Tensor, Tensor]]:
    if exclude is None:
        return None
    rows, cols = exclude
    keep = (rows >= q0) & (rows < q1) & (cols >= g0) & (cols < g1)
    if not bool(keep.any()):
        return None
    return rows[keep] - q0, cols[keep] - g0


@torch.no_grad()
def exact_topk(query: Tensor, gallery: Tensor, k: int, *,
               exclude: Optional[Tuple[Tensor, Tensor]] = None,
               query_chunk: int = DEFAULT_QUERY_CHUNK, gallery_chunk: int = DEFAULT_GALLERY_CHUNK,
               deterministic: bool = True) -> Tuple[Tensor, Tensor]:
    """Exact top-k gallery items of every query by inner product.

    Args:
        query: (Q, D) float32 queries.
        gallery: (G, D) float32 gallery, on the same device.
        k: how many results per query; ``min(k, G)`` are returned.
        exclude: optional (rows, cols) LongTensors of (query, gallery) pairs that are left out
            of the ranking (they score ``-inf`` and sort after every real item).
        query_chunk: queries per block. gallery_chunk: gallery items per block.
        deterministic: rank ties by gallery order (stable); False skips the tie check.

    Returns:
        scores (Q, k'), indices (Q, k') long, each row ranked best first.
    """
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    num_q, num_g = query.shape[0], gallery.shape[0]
    k = min(k, num_g)
    out_scores = query.new_empty((num_q, k))
    out_indices = torch.empty((num_q, k), dtype=torch.long, device=query.device)
    if num_q == 0 or k == 0:
        return out_scores, out_indices
    if exclude is not None:
        exclude = (exclude[0].to(query.device), exclude[1].to(query.device))
    buffer = query.new_empty(min(query_chunk, num_q) * min(gallery_chunk, num_g))
    for q0 in range(0, num_q, query_chunk):
        q1 = min(q0 + query_chunk, num_q)
        best_s, best_i = None, None
        for g0 in range(0, num_g, gallery_chunk):
            g1 = min(g0 + gallery_chunk, num_g)
            scores = torch.matmul(query[q0:q1], gallery[g0:g1].T,
                                  out=buffer[:(q1 - q0) * (g1 - g0)].view(q1 - q0, g1 - g0))
            block_excl = _exclusion_for_block(exclude, q0, q1, g0, g1)
            if block_excl is not None:
                scores[block_excl] = float('-inf')
            s, i = block_topk(scores, min(k, g1 - g0), deterministic)
            i += g0
            if best_s is None:
                best_s, best_i = s, i
                continue
            # Earlier blocks hold lower indices, so a stable sort of [best, new] keeps tie order.
            s, i = torch.cat([best_s, s], dim=1), torch.cat([best_i, i], dim=1)
            order = s.argsort(dim=1, descending=True, stable=True)[:, :k]
            best_s, best_i = s.gather(1, order), i.gather(1, order)
        out_scores[q0:q1], out_indices[q0:q1] = best_s, best_i
    return out_scores, out_indices
