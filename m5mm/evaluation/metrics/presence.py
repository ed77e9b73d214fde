"""How much a product vector says *which modalities the product has* rather than *what it is*.

A product's **presence pattern** is the set of its modalities that are present (``'image+text'``).
Two numbers measure how strongly the pattern, rather than the content, shapes the vectors:

**Presence gap.** For a category ``c`` with products ``P_c`` (label >= 0) and the similarity
``s(i, j)`` (cosine by default), over the unordered pairs ``i < j`` of ``P_c``::

    same_c = mean of s(i, j) over the pairs with the same pattern
    diff_c = mean of s(i, j) over the pairs with different patterns
    gap_c  = same_c - diff_c
    gap    = mean of gap_c over the categories that have both kinds of pair

A category whose products all share one pattern (no pair of different patterns), or whose patterns
are all singletons (no pair of the same pattern), has no ``gap_c``: it is skipped and counted
(``skipped_categories``). Averaging per category first keeps a large head category from deciding
the number. 0 = within a category the pattern does not matter; a gap near the gap between
categories means the pattern matters as much as the category.

**Presence share.** The share of the vectors' variance that the pattern explains, the R^2 of a
least-squares regression of the vectors on a one-hot pattern (= between-group / total sum of
squares)::

    share = sum_g n_g ||mean_g - mean||^2 / sum_i ||x_i - mean||^2

on the L2-normalised vectors (``normalize=True``, the cosine geometry retrieval uses). The same
formula with the category as the group (``category_share``) is the yardstick: a good product
vector has a category share well above its presence share.

Both are computed from per-group sums (O(N D) time and memory), never from the N x N matrix.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from ..topk import as_feature_tensor, l2_normalize
from .retrieval import as_labels

SIMILARITIES = ('cosine', 'dot')
NO_MODALITY = 'none'


def presence_patterns(present: Mapping[str, object], modalities: Optional[Sequence[str]] = None
                      ) -> Tuple[np.ndarray, List[str]]:
    """(N,) pattern index of every product and the pattern names (``'image+text'``; ``'none'``).

    Args:
        present: {modality: (N,) bool}.
        modalities: the order names are written in (default: ``present``'s order).
    """
    order = list(modalities) if modalities is not None else list(present)
    missing = [m for m in order if m not in present]
    if missing:
        raise KeyError(f'presence_patterns: no presence flags for {missing}; have {sorted(present)}')
    if not order:
        raise ValueError('presence_patterns needs at least one modality')
    flags = np.stack([np.asarray(present[m], dtype=bool).reshape(-1) for m in order], axis=1)   # (N, M)
    names = ['+'.join(m for m, f in zip(order, row) if f) or NO_MODALITY for row in flags]
    table: Dict[str, int] = {}
    codes = np.asarray([table.setdefault(name, len(table)) for name in names], dtype=np.int64)
    return codes, list(table)


def _vectors(features, similarity: str) -> Tensor:
    if similarity not in SIMILARITIES:
        raise ValueError(f'similarity must be one of {SIMILARITIES}, got {similarity!r}')
    x = as_feature_tensor(features, 'features').double()
    return l2_normalize(x) if similarity == 'cosine' else x


def _pair_sum(x: Tensor) -> Tuple[float, int]:
    """Sum of ``x_i . x_j`` over the unordered pairs i < j of the rows of ``x``, and the pair count."""
    n = x.shape[0]
    total = x.sum(dim=0)
    return float((total @ total - (x * x).sum()) / 2.0), n * (n - 1) // 2


def presence_gap(features, labels, patterns, *, similarity: str = 'cosine'
                 ) -> Tuple[Dict[str, float], Dict[str, int]]:
    """The presence gap of the module docstring.

    Args:
        features: (N, D) product vectors.
        labels: (N,) int categories (< 0: unknown, left out).
        patterns: (N,) int presence pattern of each product (:func:`presence_patterns`).
        similarity: 'cosine' or 'dot'.

    Returns:
        ``{'gap': .., 'same': .., 'different': ..}`` (per-category means; NaN when no category has
        both kinds of pair) and counts ``{'num_categories', 'num_evaluated', 'skipped_categories',
        'pairs_same', 'pairs_different'}``.
    """
    x = _vectors(features, similarity)
    labels = as_labels(labels, x.shape[0], 'labels')
    patterns = as_labels(patterns, x.shape[0], 'patterns')
    same_means, diff_means = [], []
    pairs_same = pairs_diff = 0
    categories = np.unique(labels[labels >= 0])
    for c in categories:
        rows = np.nonzero(labels == c)[0]
        all_sum, all_pairs = _pair_sum(x[rows])
        same_sum, same_pairs = 0.0, 0
        for p in np.unique(patterns[rows]):
            s, n = _pair_sum(x[rows[patterns[rows] == p]])
            same_sum, same_pairs = same_sum + s, same_pairs + n
        diff_pairs = all_pairs - same_pairs
        if same_pairs == 0 or diff_pairs == 0:
            continue
        same_means.append(same_sum / same_pairs)
        diff_means.append((all_sum - same_sum) / diff_pairs)
        pairs_same, pairs_diff = pairs_same + same_pairs, pairs_diff + diff_pairs
    nan = float('nan')
    same = float(np.mean(same_means)) if same_means else nan
    diff = float(np.mean(diff_means)) if diff_means else nan
    out = {'gap': same - diff if same_means else nan, 'same': same, 'different': diff}
    counts = {'num_categories': int(len(categories)), 'num_evaluated': len(same_means),
              'skipped_categories': int(len(categories)) - len(same_means),
              'pairs_same': pairs_same, 'pairs_different': pairs_diff}
    return out, counts


def group_variance_share(features, groups, *, normalize: bool = True) -> float:
    """Between-group sum of squares / total sum of squares of ``features`` (N, D) grouped by the
    (N,) int ``groups`` (< 0: left out): the R^2 of a one-hot regression on the group. NaN when
    fewer than 2 rows are left or the rows are all equal."""
    x = as_feature_tensor(features, 'features').double()
    groups = as_labels(groups, x.shape[0], 'groups')
    keep = groups >= 0
    x, groups = x[torch.from_numpy(keep)], groups[keep]
    if normalize:
        x = l2_normalize(x)
    if x.shape[0] < 2:
        return float('nan')
    mean = x.mean(dim=0)
    total = float(((x - mean) ** 2).sum())
    if total <= 0.0:
        return float('nan')
    between = 0.0
    for g in np.unique(groups):
        rows = x[torch.from_numpy(groups == g)]
        between += rows.shape[0] * float(((rows.mean(dim=0) - mean) ** 2).sum())
    return between / total
