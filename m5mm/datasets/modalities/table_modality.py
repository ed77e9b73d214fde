"""Attribute tables: key/value pairs tokenised key then value, with segment and pair ids."""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

import torch

from m5mm.registry import MODALITIES

from .base_modality import PAD_ID, KeySpec, ModalitySpec

PV_PAIR_SEP = '#;#'
PV_KEY_SEP = '#:#'

Pairs = List[Tuple[str, str]]


def parse_pv(text: str) -> Pairs:
    """Pairs of the M5Product ``key#:#value#;#key#:#value`` string (empty segments skipped).

    Raises:
        ValueError: a segment has no ``#:#``.
    """
    pairs = []
    for segment in text.split(PV_PAIR_SEP):
        if not segment.strip():
            continue
        if PV_KEY_SEP not in segment:
            raise ValueError(f'table: pv segment {segment[:40]!r} has no {PV_KEY_SEP!r}')
        key, value = segment.split(PV_KEY_SEP, 1)
        pairs.append((key.strip(), value.strip()))
    return pairs


def _as_text(value: Any, what: str) -> str:
    if value is None:
        return ''
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f'table: a {what} must be a string or number, got {type(value).__name__}')
    return str(value).strip()


def parse_table(value: Any) -> Optional[Pairs]:
    """Normalise a table given as ``[[key, value], ...]``, ``{key: value}`` or a pv string.

    Returns:
        The list of ``(key, value)`` string pairs (pairs empty on both sides dropped), None if empty.
    """
    if isinstance(value, str):
        pairs = parse_pv(value)
    elif isinstance(value, dict):
        pairs = [(_as_text(k, 'key'), _as_text(v, 'value')) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        pairs = []
        for pair in value:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(f'table: expected [key, value] pairs, got {str(pair)[:40]}')
            pairs.append((_as_text(pair[0], 'key'), _as_text(pair[1], 'value')))
    else:
        raise ValueError(f'table: expected a list of [key, value] pairs, a dict or a pv string, '
                         f'got {type(value).__name__}')
    pairs = [(k, v) for k, v in pairs if k or v]
    return pairs or None


@MODALITIES.register_module(name='table')
class TableModality(ModalitySpec):
    """Table: batch keys ``input_ids``, ``attention_mask``, ``token_type_ids`` (0 key, 1 value) and
    ``pair_ids`` (index of a token's pair, -1 for special tokens and padding), all ``(B, L)``."""

    name = 'table'
    field_type = 'value'
    keys = (KeySpec('input_ids', pad=PAD_ID, shape=(), dtype=torch.long),
            KeySpec('token_type_ids', pad=0, shape=(), dtype=torch.long),
            KeySpec('pair_ids', pad=-1, shape=(), dtype=torch.long))
    mask_key = 'attention_mask'
    pretext = dict(type='MaskedEntityModelObjective', name='mem')
    raw_pipeline = (dict(type='TokenizeTable'),)

    def parse_raw_value(self, value: Any) -> Optional[Pairs]:
        return parse_table(value)

    def text_values(self, value: Any) -> List[str]:
        return [text for pair in (value or ()) for text in pair if text]
