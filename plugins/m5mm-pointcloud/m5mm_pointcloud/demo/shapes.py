"""3D primitives of the demo point clouds, one per 2D shape of m5mm's demo catalogue.

A category's image shows a 2D ``shape`` (m5mm's ``demo/design.py``); its point cloud shows the
matching 3D primitive, so the new modality carries the same category factor as the image
through a different sensor.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

SHAPE_TO_PRIMITIVE: Dict[str, str] = {'circle': 'sphere', 'square': 'cube', 'triangle': 'cone',
                                      'ring': 'torus', 'star': 'octahedron', 'cross': 'jack'}
PRIMITIVES = tuple(SHAPE_TO_PRIMITIVE.values())
TORUS_TUBE = 0.35       # tube radius of the torus (ring radius 1)
JACK_HALF_WIDTH = 0.22  # half width of the three bars of the jack (half length 1)


def _sphere(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _box_surface(rng: np.random.Generator, n: int, half: np.ndarray) -> np.ndarray:
    """Uniform points on the surface of the box [-half, half] (faces weighted by area); ``half``
    is (3,) for one box or (n, 3) for one box per point."""
    half = np.broadcast_to(np.asarray(half, dtype=np.float64), (n, 3))
    areas = np.stack([half[:, 1] * half[:, 2], half[:, 0] * half[:, 2], half[:, 0] * half[:, 1]], axis=1)
    cumulative = np.cumsum(areas / areas.sum(axis=1, keepdims=True), axis=1)
    axis = np.minimum((rng.random((n, 1)) > cumulative).sum(axis=1), 2)
    points = rng.uniform(-1, 1, size=(n, 3)) * half
    rows = np.arange(n)
    points[rows, axis] = rng.choice([-1.0, 1.0], size=n) * half[rows, axis]
    return points


def _cube(rng: np.random.Generator, n: int) -> np.ndarray:
    return _box_surface(rng, n, np.ones(3))


def _cone(rng: np.random.Generator, n: int) -> np.ndarray:
    """Apex at z = 1, base disc of radius 1 at z = -1 (lateral surface and base by area)."""
    lateral = rng.random(n) < np.sqrt(5.0) / (np.sqrt(5.0) + 1.0)
    r = np.sqrt(rng.random(n))
    angle = rng.uniform(0, 2 * np.pi, n)
    z = np.where(lateral, 1.0 - 2.0 * r, -1.0)
    return np.stack([r * np.cos(angle), r * np.sin(angle), z], axis=1)


def _torus(rng: np.random.Generator, n: int) -> np.ndarray:
    u, v = rng.uniform(0, 2 * np.pi, (2, n))
    ring = 1.0 + TORUS_TUBE * np.cos(v)
    return np.stack([ring * np.cos(u), ring * np.sin(u), TORUS_TUBE * np.sin(v)], axis=1)


def _octahedron(rng: np.random.Generator, n: int) -> np.ndarray:
    """|x| + |y| + |z| = 1: a uniform point of a face, then random signs."""
    return rng.dirichlet(np.ones(3), size=n) * rng.choice([-1.0, 1.0], size=(n, 3))


def _jack(rng: np.random.Generator, n: int) -> np.ndarray:
    """Three orthogonal bars (a 3D cross); points inside another bar are dropped and redrawn."""
    out = []
    while sum(len(p) for p in out) < n:
        axis = rng.integers(3, size=n)
        half = np.full((n, 3), JACK_HALF_WIDTH)
        half[np.arange(n), axis] = 1.0
        points = _box_surface(rng, n, half)
        inside = sum((np.abs(points) < np.where(np.arange(3) == a, 1.0, JACK_HALF_WIDTH) - 1e-9).all(1)
                     for a in range(3))
        out.append(points[inside == 0])
    return np.concatenate(out)[:n]


_SAMPLERS = {'sphere': _sphere, 'cube': _cube, 'cone': _cone, 'torus': _torus, 'octahedron': _octahedron,
             'jack': _jack}


def sample_primitive(rng: np.random.Generator, primitive: str, num_points: int) -> np.ndarray:
    """(num_points, 3) points on the surface of ``primitive`` (outer radius about 1, centred at 0)."""
    if primitive not in _SAMPLERS:
        raise ValueError(f'unknown primitive {primitive!r}; expected one of {PRIMITIVES}')
    return _SAMPLERS[primitive](rng, num_points)
