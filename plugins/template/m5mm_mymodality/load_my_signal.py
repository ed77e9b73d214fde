"""The loading transform: ``results['path']`` -> the modality's tensors."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from m5mm.datasets import MediaError
from m5mm.datasets.transforms.decode import check_file
from m5mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadMySignal:  # TODO(plugin): name it after what it loads
    """``results['path']`` (a ``.npy`` (T, C)) -> ``results['values']`` (T', C) float32, standardised.

    Every unusable file raises :class:`~m5mm.datasets.MediaError` with a short reason: the
    dataset then treats the modality as absent for that sample and counts the reason. Random
    choices must come from ``m5mm.datasets.transforms.randomness.sample_rng(results, 'LoadMySignal')``
    so that training resumes exactly.

    Args:
        max_length: keep at most this many steps (None: all).
    """

    def __init__(self, *, max_length: Optional[int] = 64) -> None:
        if max_length is not None and max_length < 1:
            raise ValueError(f'max_length must be >= 1 or None, got {max_length}')
        self.max_length = max_length

    def __call__(self, results: dict) -> dict:
        path = check_file(results['path'])  # 'missing file' / 'empty file'
        try:
            array = np.load(path, allow_pickle=False).astype(np.float32)
        except Exception as exc:  # TODO(plugin): your decoder's errors
            raise MediaError('corrupt signal', f'{path}: {str(exc)[:200]}') from None
        if array.ndim != 2 or array.shape[0] == 0 or not np.isfinite(array).all():
            raise MediaError('corrupt signal', f'{path}: expected finite (T, C), got {array.shape}')
        array = array[:self.max_length]
        array = (array - array.mean(0)) / (array.std(0) + 1e-5)
        results['values'] = torch.from_numpy(np.ascontiguousarray(array))
        return results
