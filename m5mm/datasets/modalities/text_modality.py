"""Titles: token ids ``[CLS] ... [SEP]`` per sample, padded to ``(B, L)`` with a mask."""
from __future__ import annotations

from typing import Any, List

import torch

from m5mm.registry import MODALITIES

from .base_modality import PAD_ID, KeySpec, ModalitySpec


@MODALITIES.register_module(name='text')
class TextModality(ModalitySpec):
    """Text (the product title): batch keys ``input_ids (B, L)``, ``attention_mask (B, L)``."""

    name = 'text'
    field_type = 'value'
    keys = (KeySpec('input_ids', pad=PAD_ID, shape=(), dtype=torch.long),)
    mask_key = 'attention_mask'
    pretext = dict(type='MaskedLanguageModelObjective', name='mlm')
    raw_pipeline = (dict(type='TokenizeText'),)

    def parse_raw_value(self, value: Any) -> Any:
        """A string; empty means absent (a number or any other type is a wrong-typed field: malformed)."""
        if not isinstance(value, str):
            raise ValueError(f'text: expected a string, got {type(value).__name__}')
        return value.strip() or None

    def text_values(self, value: Any) -> List[str]:
        return [value] if value else []
