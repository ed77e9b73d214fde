"""Normalised product records shared by every reader.

A reader yields raw dicts in the manifest layout (``id``, ``split``, ``category``,
``instance`` and one field per modality); :func:`normalize_record` validates them into::

    {'id': 'A123', 'split': 'train', 'category': 'clothing', 'instance': 'sku-77',
     'fields': {'image': 'images/A123.jpg', 'text': 'red t-shirt', 'table': [('color', 'red')], ...}}

where a field is None when the modality is absent.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

SPLITS = ('train', 'val', 'query', 'gallery')


def normalize_splits(split: Union[str, Sequence[str], None]) -> Optional[List[str]]:
    """A list of split names (None = every split), validated."""
    if split is None:
        return None
    splits = [split] if isinstance(split, str) else list(split)
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise ValueError(f'unknown split(s) {unknown or splits!r}; splits are {SPLITS} (or None for all)')
    return splits


def _label(value: Any, what: str) -> Optional[str]:
    if value is None or value == '':
        return None
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int)) for v in value):
        return ' > '.join(str(v) for v in value) or None  # a category path
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f'{what} must be a string or integer, got {type(value).__name__}')
    return str(value)


def _non_finite_field(raw: dict) -> Optional[str]:
    """The first field holding a NaN or infinite number (JSON's ``NaN``/``Infinity``), else None."""
    def bad(value: Any) -> bool:
        if isinstance(value, float):
            return not math.isfinite(value)
        if isinstance(value, (list, tuple)):
            return any(bad(v) for v in value)
        if isinstance(value, dict):
            return any(bad(v) for v in value.values())
        return False
    return next((key for key, value in raw.items() if bad(value)), None)


def normalize_record(raw: Any, specs: Mapping[str, Any]) -> dict:
    """Validate one raw record for the configured modality ``specs``.

    Raises:
        ValueError: with a short reason naming the bad field.
    """
    if not isinstance(raw, dict):
        raise ValueError(f'expected a JSON object, got {type(raw).__name__}')
    bad_field = _non_finite_field(raw)
    if bad_field is not None:
        raise ValueError(f'field {bad_field!r}: NaN/Infinity is not a value (use null for a missing one)')
    record_id = raw.get('id')
    if isinstance(record_id, bool) or not isinstance(record_id, (str, int)) or str(record_id).strip() == '':
        raise ValueError(f'missing or invalid "id": {record_id!r}')
    split = raw.get('split')
    split = 'train' if split is None or split == '' else split
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f'unknown split {split!r} (expected one of {SPLITS})')
    fields = {}
    for name, spec in specs.items():
        try:
            fields[name] = spec.parse_value(raw.get(spec.record_field))
        except ValueError as exc:
            raise ValueError(f'field {spec.record_field!r}: {exc}') from None
    return dict(id=str(record_id).strip(), split=split, category=_label(raw.get('category'), 'category'),
                instance=_label(raw.get('instance'), 'instance'), fields=fields)


def label_index(values: Iterable[Optional[str]]) -> Dict[str, int]:
    """Stable name -> index map over ``values`` (sorted; None ignored)."""
    return {name: i for i, name in enumerate(sorted({v for v in values if v is not None}))}
