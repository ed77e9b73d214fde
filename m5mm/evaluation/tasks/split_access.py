"""Reading splits and fields out of ``features_by_split`` (features dicts or .npz paths)."""
from __future__ import annotations

from typing import Any, Dict, Mapping, MutableMapping

import numpy as np

from ..features import load_features

FeaturesBySplit = MutableMapping[str, Any]


def get_split(features_by_split: FeaturesBySplit, name: str) -> Dict[str, Any]:
    """The features dict of split ``name``; a path is loaded once and cached in place."""
    if name not in features_by_split:
        raise KeyError(f'split {name!r} is needed but features_by_split has {sorted(features_by_split)}')
    data = features_by_split[name]
    if isinstance(data, str):
        data = load_features(data)
        features_by_split[name] = data
    if not isinstance(data, Mapping) or 'features' not in data:
        raise TypeError(f"split {name!r} must be a features dict with 'features' (or an .npz path)")
    return data


def get_field(data: Mapping[str, Any], key: str, split: str) -> np.ndarray:
    """Field ``key`` (e.g. 'category') of a split as an array, with a clear error when missing."""
    if key not in data:
        fields = sorted(k for k in data if k not in ('features',))
        raise KeyError(f'split {split!r} has no {key!r} field; it has {fields}')
    return np.asarray(data[key])
