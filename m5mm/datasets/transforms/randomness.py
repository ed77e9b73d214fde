"""Per-sample random generators, so augmentation replays exactly on resumed training."""
from __future__ import annotations

import zlib

import numpy as np


def sample_rng(results: dict, salt: str) -> np.random.Generator:
    """A generator seeded by ``results['seed']`` (set by the dataset from index and epoch) and
    ``salt`` (the transform's name, so two transforms draw independent numbers)."""
    seed = results.get('seed')
    if seed is None:
        raise KeyError('random transforms need results["seed"]; the m5mm datasets set it per sample')
    return np.random.default_rng([int(seed), zlib.crc32(salt.encode())])
