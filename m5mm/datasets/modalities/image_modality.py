"""Product images: ``pixels (3, H, W)`` per sample, stacked to ``(B, 3, H, W)``."""
from __future__ import annotations

import torch

from m5mm.registry import MODALITIES

from .base_modality import KeySpec, ModalitySpec


@MODALITIES.register_module(name='image')
class ImageModality(ModalitySpec):
    """Image: the record field is a path to a .jpg/.png; batch keys ``pixels (B, 3, H, W)``."""

    name = 'image'
    field_type = 'path'
    keys = (KeySpec('pixels', kind='stacked', pad=0.0, shape=(3, 64, 64), dtype=torch.float32),)
    mask_key = None
    raw_pipeline = (dict(type='LoadImage'), dict(type='ResizeImage', size=64), dict(type='NormalizeImage'))
