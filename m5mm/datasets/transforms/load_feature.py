"""Load pre-extracted features from a .npy file."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from m5mm.registry import TRANSFORMS

from ..errors import MediaError
from .decode import load_npy


@TRANSFORMS.register_module()
class LoadFeature:
    """``results['path']`` (a ``.npy``) -> ``results['feats']`` (N, F) float32.

    A 1-D array is one token (1, F). Used for every modality whose source is ``'feature'``
    (region features, S3D clip features, audio features, ...).

    Args:
        max_tokens: keep at most this many tokens (rows); None keeps all.
    """

    reads_bytes = True   # reads ``results['data']`` (a shard member) when present
    build_time = True    # deterministic: may run when shards are built

    def __init__(self, *, max_tokens: Optional[int] = None) -> None:
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f'max_tokens must be >= 1, got {max_tokens}')
        self.max_tokens = max_tokens

    def __call__(self, results: dict) -> dict:
        array = load_npy(results['path'], data=results.get('data'))
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
            raise MediaError('corrupt feature', f'{results["path"]}: expected (N, F) with N, F > 0, '
                                                f'got shape {array.shape}')
        if not np.isfinite(array).all():
            raise MediaError('corrupt feature', f'{results["path"]}: non-finite values')
        if self.max_tokens is not None:
            array = array[:self.max_tokens]
        results['feats'] = torch.from_numpy(np.ascontiguousarray(array))
        return results

    def __repr__(self) -> str:
        return f'LoadFeature(max_tokens={self.max_tokens})'
