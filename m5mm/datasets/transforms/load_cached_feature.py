"""Load a pretrained tower's cached outputs, checked to come from the configured model."""
from __future__ import annotations

import os
from typing import Optional

from m5mm.registry import TRANSFORMS

from ..feature_record import check_record
from .load_feature import LoadFeature


@TRANSFORMS.register_module()
class LoadCachedFeature(LoadFeature):
    """:class:`LoadFeature` for features written by ``tools/cache_features.py``: ``results['path']``
    (a ``.npy`` of the tower's tokens) -> ``results['feats']`` (N, H) float32.

    The ``cache_record.json`` of the file's folder must name the same model as ``pretrained``
    (same weights fingerprint), else a :class:`~m5mm.datasets.feature_record.FeatureCacheMismatch`
    says which model made the features and how to cache them again.

    Args:
        pretrained: the tower's model (folder or hub id), as in the model config.
        max_tokens: keep at most this many tokens (None: all).
    """

    def __init__(self, *, pretrained: str, max_tokens: Optional[int] = None) -> None:
        super().__init__(max_tokens=max_tokens)
        self.pretrained = pretrained

    def __call__(self, results: dict) -> dict:
        check_record(os.path.dirname(results['path']), self.pretrained)
        return super().__call__(results)

    def __repr__(self) -> str:
        return f'LoadCachedFeature(pretrained={self.pretrained!r}, max_tokens={self.max_tokens})'
