"""Seeded k-means in torch: k-means++ initialisation, Lloyd iterations, several restarts.

Distances are computed in blocks (||x||^2 - 2 x.c + ||c||^2, fp32 matmul), so N x k never
has to fit in memory at once. The restart with the lowest inertia (sum of squared distances
to the nearest centroid) wins. An empty cluster is moved to the point farthest from its
centroid. Runs are reproducible for a given seed and thread count.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from .topk import as_feature_tensor


def nearest_centroid(x: Tensor, centroids: Tensor, block_elements: int = 1 << 24) -> Tuple[Tensor, Tensor]:
    """(N, D) points, (K, D) centroids -> (N,) nearest index, (N,) squared distance.

    Points are processed in blocks of about ``block_elements`` / K rows.
    """
    chunk = max(1, block_elements // max(centroids.shape[0], 1))
    c_sq = (centroids * centroids).sum(dim=1)
    labels = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    dists = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for i in range(0, x.shape[0], chunk):
        block = x[i:i + chunk]
        d = torch.addmm(c_sq, block, centroids.T, alpha=-2).add_((block * block).sum(dim=1, keepdim=True))
        dists[i:i + chunk], labels[i:i + chunk] = d.clamp_min_(0).min(dim=1)
    return labels, dists


def kmeans_plusplus(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeding (D^2 sampling): (N, D) points -> (k, D) initial centroids."""
    n = x.shape[0]
    x_sq = (x * x).sum(dim=1)

    def sq_dist(idx: int) -> Tensor:
        d = (x_sq - 2 * (x @ x[idx]) + x_sq[idx]).clamp_min_(0)
        d[idx] = 0  # exactly, despite rounding: a chosen point is never drawn again
        return d

    chosen = [int(torch.randint(n, (1,), generator=generator))]
    closest = sq_dist(chosen[0])
    for _ in range(1, k):
        cumulative = closest.double().cumsum(dim=0)
        total = float(cumulative[-1])
        if total <= 0:  # every point sits on a centroid: pick uniformly
            idx = int(torch.randint(n, (1,), generator=generator))
        else:  # inverse-CDF draw with probability proportional to the squared distance
            u = torch.rand(1, generator=generator, dtype=torch.float64) * total
            idx = min(int(torch.searchsorted(cumulative, u, right=True)), n - 1)
        chosen.append(idx)
        closest = torch.minimum(closest, sq_dist(idx))
    return x[chosen].clone()


class KMeans:
    """k-means clustering of (N, D) features.

    Args:
        num_clusters: k.
        n_init: restarts; the lowest inertia wins.
        max_iter: Lloyd iterations per restart.
        tol: stop when the summed squared centroid shift is below ``tol`` x the mean
            per-dimension variance of the data (sklearn's convention).
        seed: seeds restart i with ``seed + i``.
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

    def _single_run(self, x: Tensor, generator: torch.Generator,
                    threshold: float) -> Tuple[Tensor, Tensor, float]:
        centroids = kmeans_plusplus(x, self.num_clusters, generator)
        for _ in range(self.max_iter):
            labels, dists = nearest_centroid(x, centroids)
            sums = torch.zeros_like(centroids).index_add_(0, labels, x)
            counts = torch.bincount(labels, minlength=self.num_clusters)
            new = sums / counts.clamp_min(1).unsqueeze(1).to(x.dtype)
            empty = (counts == 0).nonzero().squeeze(1)
            if empty.numel():
                far = dists.topk(empty.numel()).indices
                new[empty] = x[far]
            shift = float(((new - centroids) ** 2).sum())
            centroids = new
            if shift <= threshold:
                break
        labels, dists = nearest_centroid(x, centroids)
        return centroids, labels, float(dists.double().sum())

    @torch.no_grad()
    def fit(self, features) -> 'KMeans':
        """Cluster ``features`` (N, D); sets ``centroids`` (k, D), ``labels`` (N,), ``inertia``."""
        x = as_feature_tensor(features, 'features')
        if x.shape[0] < self.num_clusters:
            raise ValueError(f'k-means needs at least num_clusters={self.num_clusters} points, '
                             f'got {x.shape[0]}')
        threshold = self.tol * float(x.var(dim=0, unbiased=False).mean())
        for run in range(self.n_init):
            generator = torch.Generator(device=x.device).manual_seed(self.seed + run)
            centroids, labels, inertia = self._single_run(x, generator, threshold)
            if inertia < self.inertia:
                self.centroids, self.labels, self.inertia = centroids, labels, inertia
        return self

    def fit_predict(self, features) -> Tensor:
        """Cluster ``features`` (N, D) -> (N,) cluster index."""
        return self.fit(features).labels

    def predict(self, features) -> Tensor:
        """(N, D) -> (N,) index of the nearest fitted centroid."""
        if self.centroids is None:
            raise RuntimeError('KMeans.predict called before fit')
        return nearest_centroid(as_feature_tensor(features, 'features'), self.centroids)[0]
