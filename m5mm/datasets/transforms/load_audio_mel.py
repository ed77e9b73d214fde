"""Decode audio into a standardised log-mel spectrogram."""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
import torch

from m5mm.registry import TRANSFORMS

from .decode import decode_audio

LOG_FLOOR = 1e-10


def log_mel(wave: np.ndarray, *, sample_rate: int, n_mels: int, n_fft: int, hop_length: int) -> np.ndarray:
    """(T, n_mels) natural-log mel power spectrogram of a mono waveform; T = 1 + len // hop."""
    import librosa
    with warnings.catch_warnings():  # librosa warns when a clip is shorter than n_fft; it pads it
        warnings.simplefilter('ignore')
        mel = librosa.feature.melspectrogram(y=wave, sr=sample_rate, n_fft=n_fft, hop_length=hop_length,
                                             n_mels=n_mels, power=2.0)
    return np.log(np.maximum(mel, LOG_FLOOR)).T.astype(np.float32)


def _import_librosa() -> None:
    """Import librosa's lazily loaded audio and feature modules now (seconds, numba), so that
    DataLoader workers forked later inherit them instead of importing them each."""
    import librosa
    librosa.load, librosa.feature.melspectrogram  # noqa: B018 - attribute access triggers the import


@TRANSFORMS.register_module()
class LoadAudioMel:
    """``results['path']`` -> ``results['mel']`` (T, n_mels) float32.

    librosa loads at ``sample_rate`` mono, at most ``max_duration`` seconds; the log-mel
    spectrogram is standardised per clip (or with the given dataset ``mean``/``std``).
    The paper: 12 s at 16 kHz, 80 bins, n_fft 1024, hop 256 (751 frames).

    Args:
        sample_rate: resampling rate in Hz.
        max_duration: seconds read from the start (None reads everything).
        n_mels: mel bins.
        n_fft: FFT window.
        hop_length: hop between frames, in samples.
        mean: fixed mean for standardisation (None: the clip's own).
        std: fixed std (None: the clip's own).
    """

    reads_bytes = True   # decodes ``results['data']`` (a shard member) when present
    build_time = True    # deterministic: may run when shards are built (the log-mel is stored)

    def __init__(self, *, sample_rate: int = 16000, max_duration: Optional[float] = 12.0, n_mels: int = 80,
                 n_fft: int = 1024, hop_length: int = 256, mean: Optional[float] = None,
                 std: Optional[float] = None) -> None:
        if (mean is None) != (std is None):
            raise ValueError('give both mean and std, or neither (per-clip standardisation)')
        if std is not None and std <= 0:
            raise ValueError(f'std must be > 0, got {std}')
        self.sample_rate = sample_rate
        self.max_duration = max_duration
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.mean = mean
        self.std = std
        _import_librosa()

    def __call__(self, results: dict) -> dict:
        wave = decode_audio(results['path'], sample_rate=self.sample_rate, max_duration=self.max_duration,
                            data=results.get('data'))
        mel = log_mel(wave, sample_rate=self.sample_rate, n_mels=self.n_mels, n_fft=self.n_fft,
                      hop_length=self.hop_length)
        if self.mean is None:
            mel = (mel - mel.mean()) / (mel.std() + 1e-5)
        else:
            mel = (mel - self.mean) / self.std
        results['mel'] = torch.from_numpy(np.ascontiguousarray(mel))
        return results

    def output_meta(self) -> dict:
        """``n_mels`` of the output, for the audio encoder (see :meth:`Compose.output_meta`)."""
        return {'n_mels': self.n_mels}

    def __repr__(self) -> str:
        return (f'LoadAudioMel(sample_rate={self.sample_rate}, max_duration={self.max_duration}, '
                f'n_mels={self.n_mels}, n_fft={self.n_fft}, hop_length={self.hop_length})')
