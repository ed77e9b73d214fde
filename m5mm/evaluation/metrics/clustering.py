"""Clustering quality from the contingency table: NMI, purity and ARI.

* NMI = I(Y; C) / mean(H(Y), H(C)) (arithmetic mean, natural log; 1 when both labelings
  have a single group, 0 when the mutual information is 0), as sklearn's default.
* purity = (1 / N) * sum over clusters of the size of its largest class.
* ARI = (sum_ij C(n_ij, 2) - E) / ((a + b) / 2 - E), a = sum_i C(n_i., 2),
  b = sum_j C(n_.j, 2), E = a b / C(N, 2); 1 when the denominator is 0 (identical trivial
  labelings). ARI is in [-0.5, 1].
"""
from __future__ import annotations

from typing import Dict

import numpy as np
from torch import Tensor

from m5mm.registry import METRICS


def _as_1d(x, name: str) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f'{name} must be 1-D, got shape {arr.shape}')
    return arr


def contingency_table(labels_true, labels_pred) -> np.ndarray:
    """(n_classes, n_clusters) int64 counts of samples per (class, cluster)."""
    y, c = _as_1d(labels_true, 'labels_true'), _as_1d(labels_pred, 'labels_pred')
    if y.shape != c.shape:
        raise ValueError(f'labels_true and labels_pred differ in length: {y.shape[0]} vs {c.shape[0]}')
    _, yi = np.unique(y, return_inverse=True)
    _, ci = np.unique(c, return_inverse=True)
    table = np.zeros((yi.max(initial=-1) + 1, ci.max(initial=-1) + 1), dtype=np.int64)
    np.add.at(table, (yi.ravel(), ci.ravel()), 1)
    return table


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def nmi_score(labels_true, labels_pred) -> float:
    """Normalised mutual information (arithmetic normalisation) of two labelings."""
    table = contingency_table(labels_true, labels_pred)
    if table.shape[0] == table.shape[1] <= 1:
        return 1.0
    n = table.sum()
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    i, j = np.nonzero(table)
    nij = table[i, j].astype(np.float64)
    mi = float((nij / n * (np.log(nij * n) - np.log(rows[i].astype(np.float64) * cols[j]))).sum())
    if mi <= 0:
        return 0.0
    return float(min(1.0, mi / ((_entropy(rows) + _entropy(cols)) / 2)))  # clip rounding above 1


def purity_score(labels_true, labels_pred) -> float:
    """Share of samples in their cluster's majority class."""
    table = contingency_table(labels_true, labels_pred)
    return float(table.max(axis=0).sum() / table.sum()) if table.size else float('nan')


def _pairs(x: np.ndarray) -> float:
    x = x.astype(np.float64)
    return float((x * (x - 1) / 2).sum())


def ari_score(labels_true, labels_pred) -> float:
    """Adjusted Rand index of two labelings."""
    table = contingency_table(labels_true, labels_pred)
    n = table.sum()
    index, a, b = _pairs(table), _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    expected = a * b / (n * (n - 1) / 2) if n > 1 else 0.0
    denom = (a + b) / 2 - expected
    return 1.0 if denom == 0 else float((index - expected) / denom)


def clustering_scores(labels_true, labels_pred) -> Dict[str, float]:
    """``{'NMI', 'purity', 'ARI'}`` of predicted cluster ids against true labels."""
    return {'NMI': nmi_score(labels_true, labels_pred), 'purity': purity_score(labels_true, labels_pred),
            'ARI': ari_score(labels_true, labels_pred)}


@METRICS.register_module()
class ClusteringMetric:
    """NMI, purity and ARI of cluster ids against true labels.

    ``metric(labels_true (N,), cluster_ids (N,)) -> {'NMI': .., 'purity': .., 'ARI': ..}``.

    Example config: ``dict(type='ClusteringMetric')``.
    """

    def __call__(self, labels_true, labels_pred) -> Dict[str, float]:
        """True labels and predicted cluster ids -> scores."""
        return clustering_scores(labels_true, labels_pred)
