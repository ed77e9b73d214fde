"""Product videos: ``frames (T, 3, H, W)`` per sample, padded along T with a frame mask."""
from __future__ import annotations

import torch

from m5mm.registry import MODALITIES

from .base_modality import KeySpec, ModalitySpec


@MODALITIES.register_module(name='video')
class VideoModality(ModalitySpec):
    """Video: the record field is a path to an .mp4; batch keys ``frames (B, T, 3, H, W)``,
    ``frame_mask (B, T)``."""

    name = 'video'
    field_type = 'path'
    keys = (KeySpec('frames', pad=0.0, shape=(3, 64, 64), dtype=torch.float32),)
    mask_key = 'frame_mask'
    raw_pipeline = (dict(type='SampleVideoFrames', num_frames=4, size=64),)
