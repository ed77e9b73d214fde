"""k-means of (N, D) features: scikit-learn's ``KMeans`` (k-means++ seeding, Lloyd, best of ``n_init``).

scikit-learn is a required dependency and its definition is the one m5mm documents (greedy
k-means++, inertia, ``tol`` relative to the mean feature variance). FAISS's k-means (the
``faiss`` extra) seeds at random and is optional, so it is not used here.
"""
from __future__ import annotations

import warnings
from typing import Optional

import torch
from torch import Tensor

from .topk import as_feature_tensor


class KMeans:
    """k-means clustering of (N, D) features (float32 as given, on the CPU).

    Args:
        num_clusters: k.
        n_init: restarts; the lowest inertia wins.
        max_iter: Lloyd iterations per restart.
        tol: stop when the summed squared centroid shift is below ``tol`` x the mean
            per-dimension variance of the data.
        seed: the ``random_state`` of the seeding.
    """

    def __init__(self, *, num_clusters: int, n_init: int = 3, max_iter: int = 100, tol: float = 1e-4,
                 seed: int = 0) -> None:
        if num_clusters < 1 or n_init < 1 or max_iter < 1:
            raise ValueError('num_clusters, n_init and max_iter must be >= 1')
        self.num_clusters = num_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.centroids: Optional[Tensor] = None
        self.labels: Optional[Tensor] = None
        self.inertia: float = float('inf')
        self._model = None

    def fit(self, features) -> 'KMeans':
        """Cluster ``features`` (N, D); sets ``centroids`` (k, D), ``labels`` (N,), ``inertia``."""
        from sklearn.cluster import KMeans as SkKMeans
        from sklearn.exceptions import ConvergenceWarning
        x = as_feature_tensor(features, 'features').cpu().numpy()
        if x.shape[0] < self.num_clusters:
            raise ValueError(f'k-means needs at least num_clusters={self.num_clusters} points, '
                             f'got {x.shape[0]}')
        model = SkKMeans(n_clusters=self.num_clusters, n_init=self.n_init, max_iter=self.max_iter, tol=self.tol,
                         random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', ConvergenceWarning)   # fewer distinct points than clusters
            model.fit(x)
        self._model = model
        self.centroids = torch.from_numpy(model.cluster_centers_)
        self.labels = torch.from_numpy(model.labels_.astype('int64'))
        self.inertia = float(model.inertia_)
        return self

    def fit_predict(self, features) -> Tensor:
        """Cluster ``features`` (N, D) -> (N,) cluster index."""
        return self.fit(features).labels

    def predict(self, features) -> Tensor:
        """(N, D) -> (N,) index of the nearest fitted centroid."""
        if self._model is None:
            raise RuntimeError('KMeans.predict called before fit')
        x = as_feature_tensor(features, 'features').cpu().numpy()
        return torch.from_numpy(self._model.predict(x).astype('int64'))
