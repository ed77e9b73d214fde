"""Clustering quality: NMI and ARI (scikit-learn's definitions) and purity, from the contingency table.

* NMI = I(Y; C) / mean(H(Y), H(C)) (arithmetic mean, natural log; 1 when both labelings
  have a single group, 0 when the mutual information is 0): sklearn's
  ``normalized_mutual_info_score``.
* ARI = (sum_ij C(n_ij, 2) - E) / ((a + b) / 2 - E), a = sum_i C(n_i., 2),
  b = sum_j C(n_.j, 2), E = a b / C(N, 2); 1 for identical trivial labelings; in [-0.5, 1]:
  sklearn's ``adjusted_rand_score``.
* purity = (1 / N) * sum over clusters of the size of its largest class (on sklearn's
  ``contingency_matrix``).
"""
from __future__ import annotations

from typing import Dict

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from torch import Tensor


def _as_1d(x, name: str) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f'{name} must be 1-D, got shape {arr.shape}')
    return arr


def _pair(labels_true, labels_pred):
    y, c = _as_1d(labels_true, 'labels_true'), _as_1d(labels_pred, 'labels_pred')
    if y.shape != c.shape:
        raise ValueError(f'labels_true and labels_pred differ in length: {y.shape[0]} vs {c.shape[0]}')
    return y, c


def contingency_table(labels_true, labels_pred) -> np.ndarray:
    """(n_classes, n_clusters) int64 counts of samples per (class, cluster)."""
    y, c = _pair(labels_true, labels_pred)
    if y.size == 0:
        return np.zeros((0, 0), dtype=np.int64)
    return contingency_matrix(y, c).astype(np.int64)


def nmi_score(labels_true, labels_pred) -> float:
    """Normalised mutual information (arithmetic normalisation) of two labelings."""
    return float(normalized_mutual_info_score(*_pair(labels_true, labels_pred), average_method='arithmetic'))


def purity_score(labels_true, labels_pred) -> float:
    """Share of samples in their cluster's majority class."""
    table = contingency_table(labels_true, labels_pred)
    return float(table.max(axis=0).sum() / table.sum()) if table.size else float('nan')


def ari_score(labels_true, labels_pred) -> float:
    """Adjusted Rand index of two labelings."""
    return float(adjusted_rand_score(*_pair(labels_true, labels_pred)))


def clustering_scores(labels_true, labels_pred) -> Dict[str, float]:
    """``{'NMI', 'purity', 'ARI'}`` of predicted cluster ids against true labels."""
    return {'NMI': nmi_score(labels_true, labels_pred), 'purity': purity_score(labels_true, labels_pred),
            'ARI': ari_score(labels_true, labels_pred)}
