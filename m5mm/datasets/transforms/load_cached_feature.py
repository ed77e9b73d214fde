"""Load a pretrained tower's cached outputs, checked to come from the configured model."""
from __future__ import annotations

import os
from typing import Dict, Optional

from m5mm.registry import TRANSFORMS

from ..feature_record import RECORD_NAME, check_record
from .load_feature import LoadFeature


@TRANSFORMS.register_module()
class LoadCachedFeature(LoadFeature):
    """:class:`LoadFeature` for features written by ``tools/cache_features.py``: ``results['path']``
    (a ``.npy`` of the tower's tokens) -> ``results['feats']`` (N, H) float32.

    The ``cache_record.json`` of the file's folder (or of its parent) must name the same model as ``pretrained``
    (same weights fingerprint), else a :class:`~m5mm.datasets.feature_record.FeatureCacheMismatch`
    says which model made the features and how to cache them again.

    Args:
        pretrained: the tower's model (folder or hub id), as in the model config.
        max_tokens: keep at most this many tokens (None: all).
    """

    def __init__(self, *, pretrained: str, max_tokens: Optional[int] = None) -> None:
        super().__init__(max_tokens=max_tokens)
        self.pretrained = pretrained
        self._record_dirs: Dict[str, str] = {}

    def _record_dir(self, folder: str) -> str:
        if folder not in self._record_dirs:
            has_record = os.path.isfile(os.path.join(folder, RECORD_NAME))
            self._record_dirs[folder] = folder if has_record else os.path.dirname(folder)
        return self._record_dirs[folder]

    def __call__(self, results: dict) -> dict:
        check_record(self._record_dir(os.path.dirname(results['path'])), self.pretrained)
        return super().__call__(results)

    def __repr__(self) -> str:
        return f'LoadCachedFeature(pretrained={self.pretrained!r}, max_tokens={self.max_tokens})'
