"""Product audio: a log-mel spectrogram ``mel (T, n_mels)`` per sample, padded along T."""
from __future__ import annotations

import torch

from m5mm.registry import MODALITIES

from .base_modality import KeySpec, ModalitySpec


@MODALITIES.register_module(name='audio')
class AudioModality(ModalitySpec):
    """Audio: the record field is a path to a .wav/.mp3; batch keys ``mel (B, T, n_mels)``,
    ``frame_mask (B, T)``."""

    name = 'audio'
    field_type = 'path'
    keys = (KeySpec('mel', pad=0.0, shape=(80,), dtype=torch.float32),)
    mask_key = 'frame_mask'
    raw_pipeline = (dict(type='LoadAudioMel', max_duration=4.0),)
