"""Load a point cloud, centre it, scale it to the unit sphere and sample a fixed number of points."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from m5mm.datasets import MediaError
from m5mm.datasets.transforms.randomness import sample_rng
from m5mm.registry import TRANSFORMS

from .point_cloud_io import CORRUPT, read_point_file


def normalize_points(points: np.ndarray, path: str = '') -> np.ndarray:
    """(N, 3) -> the same points centred on their mean and scaled so the farthest is at radius 1.

    Raises:
        MediaError: ``'corrupt point cloud'`` when every point is the same.
    """
    centred = points - points.mean(axis=0)
    radius = float(np.sqrt((centred ** 2).sum(axis=1).max()))
    if not np.isfinite(radius) or radius <= 0.0:
        raise MediaError(CORRUPT, f'{path}: degenerate point cloud (all {len(points)} points coincide)')
    return centred / radius


def sample_indices(rng: np.random.Generator, num: int, size: int) -> np.ndarray:
    """``size`` indices into ``num`` points: distinct when ``num >= size``; else every point once
    (shuffled) and random repeats to fill up."""
    if num >= size:
        return rng.choice(num, size=size, replace=False)
    return np.concatenate([rng.permutation(num), rng.choice(num, size=size - num, replace=True)])


@TRANSFORMS.register_module()
class LoadPointCloud:
    """``results['path']`` (``.npy`` (N, C>=3) or ASCII ``.ply``) -> ``results['points']`` (P, 3) float32.

    Keeps the first three columns (x, y, z), drops non-finite points, centres the cloud on its
    mean and scales it into the unit sphere, then samples ``num_points`` points with a generator
    seeded by ``results['seed']`` (the dataset's per-sample seed: the same sample and epoch give
    the same points). Missing, corrupt, degenerate or too small files raise
    :class:`~m5mm.datasets.MediaError`, so the sample's point cloud becomes absent and is counted.

    Args:
        num_points: P, points per sample (None keeps every point, in file order).
        normalize: centre and scale to the unit sphere.
        min_points: fewer finite points than this is an error (``'too few points'``).
    """

    def __init__(self, *, num_points: Optional[int] = 1024, normalize: bool = True,
                 min_points: int = 1) -> None:
        if num_points is not None and num_points < 1:
            raise ValueError(f'num_points must be >= 1 or None, got {num_points}')
        if min_points < 1:
            raise ValueError(f'min_points must be >= 1, got {min_points}')
        self.num_points = num_points
        self.normalize = normalize
        self.min_points = min_points

    def __call__(self, results: dict) -> dict:
        path = results['path']
        points = read_point_file(path)[:, :3]
        points = points[np.isfinite(points).all(axis=1)]
        if len(points) < self.min_points:
            raise MediaError('too few points' if len(points) else 'empty point cloud',
                             f'{path}: {len(points)} finite points, need {self.min_points}')
        if self.normalize:
            points = normalize_points(points, path)
        if self.num_points is not None:
            rng = sample_rng(results, 'LoadPointCloud')
            points = points[sample_indices(rng, len(points), self.num_points)]
        results['points'] = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))
        return results

    def __repr__(self) -> str:
        return (f'LoadPointCloud(num_points={self.num_points}, normalize={self.normalize}, '
                f'min_points={self.min_points})')
