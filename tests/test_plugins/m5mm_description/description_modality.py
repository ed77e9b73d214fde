"""The product description: a long free text, tokenised like a title but longer."""
from __future__ import annotations

from typing import Any, List

import torch

from m5mm.datasets.modalities import PAD_ID, KeySpec, ModalitySpec
from m5mm.registry import MODALITIES


@MODALITIES.register_module(name='description')
class DescriptionModality(ModalitySpec):
    """Description: the record field holds the text; batch keys ``input_ids (B, L)``,
    ``attention_mask (B, L)``. The dataset's tokenizer learns its words too (``text_values``)."""

    name = 'description'
    field_type = 'value'
    keys = (KeySpec('input_ids', pad=PAD_ID, shape=(), dtype=torch.long),)
    mask_key = 'attention_mask'
    raw_pipeline = (dict(type='TokenizeText', max_length=128),)

    def parse_raw_value(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f'description: expected a string, got {type(value).__name__}')
        return value.strip() or None

    def text_values(self, value: Any) -> List[str]:
        return [value] if value else []
