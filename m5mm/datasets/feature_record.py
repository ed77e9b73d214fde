"""The record written next to cached tower features: which model and preprocessing produced them.

``tools/cache_features.py`` writes ``<DIR>/<modality>/cache_record.json``; the
``LoadCachedFeature`` transform reads it and refuses features made by another model than the
configured one, so a cache can never silently feed the wrong tower.
"""
from __future__ import annotations

import json
import os
from typing import Dict

from m5mm.utils.pretrained_source import resolve_pretrained, source_fingerprint

RECORD_NAME = 'cache_record.json'
FORMAT = 1


class FeatureCacheMismatch(ValueError):
    """Cached features made by another model (or preprocessing) than the configured one."""


def write_record(directory: str, record: dict) -> str:
    """Write ``record`` as ``directory/cache_record.json`` (atomically); returns the path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, RECORD_NAME)
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as handle:
        json.dump(dict(record, format=FORMAT), handle, indent=2, default=str)
    os.replace(tmp, path)
    return path


def read_record(directory: str) -> dict:
    """The record of a feature cache folder, with a clear error when there is none."""
    path = os.path.join(directory, RECORD_NAME)
    if not os.path.isfile(path):
        raise FeatureCacheMismatch(f'{directory} holds no {RECORD_NAME}: not a feature cache written by '
                                   f'tools/cache_features.py, so the model that made its features is unknown')
    with open(path, encoding='utf-8') as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as exc:
            raise FeatureCacheMismatch(f'{path} is not valid JSON ({exc.msg})') from None


_CHECKED: Dict[tuple, dict] = {}


def check_record(directory: str, pretrained: str) -> dict:
    """The record of ``directory``, checked to come from ``pretrained`` (same weights); cached per folder."""
    key = (os.path.abspath(directory), pretrained)
    if key not in _CHECKED:
        record = read_record(directory)
        expected = source_fingerprint(resolve_pretrained(pretrained, what='feature cache check'))
        if record.get('fingerprint') != expected:
            raise FeatureCacheMismatch(
                f'features in {directory} were made by {record.get("pretrained")!r} (fingerprint '
                f'{str(record.get("fingerprint"))[:12]}), but the config uses {pretrained!r} ({expected[:12]}); '
                f'cache them again: python tools/cache_features.py CONFIG --out DIR')
        _CHECKED[key] = record
    return _CHECKED[key]
