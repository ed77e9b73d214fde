"""Decode audio and run a pretrained audio model's own feature extractor."""
from __future__ import annotations

import math
from typing import Optional

import torch

from m5mm.models.pretrained import audio
from m5mm.models.pretrained.loading import load_config
from m5mm.models.pretrained.processors import load_feature_extractor
from m5mm.registry import TRANSFORMS
from m5mm.utils.pretrained_source import resolve_pretrained

from ..errors import MediaError
from .decode import decode_audio
from .load_audio_mel import _import_librosa


@TRANSFORMS.register_module()
class ProcessAudio:
    """``results['path']`` -> ``results['mel']`` (T, F) float32, the model's input frames of the clip.

    The clip is decoded at the feature extractor's sampling rate (at most ``max_duration`` s,
    and at most the model's window: 30 s for Whisper, ``max_length`` frames for AST) and run
    through the model's ``AutoFeatureExtractor``; the frames of the real audio are kept (see
    :mod:`m5mm.models.pretrained.audio` for what a frame is per model kind).

    Args:
        pretrained: the audio tower's model (folder or hub id).
        max_duration: seconds read from the start (None: the model's window, else everything).
    """

    def __init__(self, *, pretrained: str, max_duration: Optional[float] = 12.0) -> None:
        self.pretrained = pretrained
        self.extractor = load_feature_extractor(pretrained)
        self.config = load_config(resolve_pretrained(pretrained, what='audio tower'), pretrained)
        self.kind = audio.audio_kind(self.config.model_type)
        window = audio.max_duration(self.kind, self.extractor, self.config)
        self.max_duration = min(max_duration or math.inf, window)
        self.max_duration = None if math.isinf(self.max_duration) else self.max_duration
        _import_librosa()

    @property
    def sample_rate(self) -> int:
        """The extractor's sampling rate in Hz."""
        return int(self.extractor.sampling_rate)

    def __call__(self, results: dict) -> dict:
        wave = decode_audio(results['path'], sample_rate=self.sample_rate, max_duration=self.max_duration)
        try:
            frames = audio.featurize(self.kind, self.extractor, self.config, wave)
        except ValueError as exc:
            raise MediaError('audio too short', f'{results["path"]}: {exc}') from None
        results['mel'] = torch.from_numpy(frames)
        return results

    def __repr__(self) -> str:
        return (f'ProcessAudio(pretrained={self.pretrained!r}, kind={self.kind!r}, sample_rate={self.sample_rate}, '
                f'max_duration={self.max_duration})')
