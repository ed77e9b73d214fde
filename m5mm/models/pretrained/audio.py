"""Pretrained audio models of three input kinds, seen through the audio modality's ``mel (T, F)`` frames.

The pipeline's ``ProcessAudio`` runs the model's own feature extractor and keeps the real
frames of a clip; the tower rebuilds the model's input from the batch's frames and frame mask
and tells which of the model's output tokens are real:

- ``waveform`` (wav2vec2, HuBERT, WavLM, data2vec-audio, ...): frames are the normalised
  waveform cut in chunks of the model's total conv stride (320 samples = one output token);
- ``ast`` (Audio Spectrogram Transformer): kaldi fbank frames (T, n_mels), padded to the
  model's ``max_length`` with the value the extractor pads with;
- ``whisper`` (the Whisper encoder): log-mel frames (T, n_mels) of the clip, padded to the
  30-s (``max_source_positions * 2``) window with the value the extractor gives silence.
"""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np
import torch
from torch import Tensor, nn

KINDS = ('waveform', 'ast', 'whisper')
WHISPER_FLOOR = -1.5   # (log10 floor -10 + 4) / 4: the normalised value of digital silence
WHISPER_RANGE = 2.0    # 8 (log10 dynamic range) / 4


def audio_kind(model_type: str) -> str:
    """``'whisper'``, ``'ast'`` or ``'waveform'`` for a ``transformers`` audio model type."""
    if model_type == 'whisper':
        return 'whisper'
    return 'ast' if model_type == 'audio-spectrogram-transformer' else 'waveform'


def waveform_hop(config) -> int:
    """Samples per output token of a waveform model (the product of its conv strides)."""
    return int(np.prod(config.conv_stride))


# ------------------------------------------------------------------ data side
def featurize(kind: str, extractor, config, wave: np.ndarray) -> np.ndarray:
    """Mono waveform at the extractor's rate -> (T, F) float32 frames of the real audio (see module doc)."""
    rate = extractor.sampling_rate
    if kind == 'waveform':
        values = extractor(wave, sampling_rate=rate, return_tensors='np')['input_values'][0]
        hop = waveform_hop(config)
        usable = len(values) // hop * hop
        if usable == 0:
            raise ValueError(f'audio of {len(values)} samples is shorter than one token ({hop} samples)')
        return values[:usable].reshape(-1, hop).astype(np.float32)
    if kind == 'ast':
        frames = 1 + (len(wave) - 400) // 160 if len(wave) >= 400 else 0  # kaldi fbank, 25 ms window, 10 ms shift
        if frames <= 0:
            raise ValueError(f'audio of {len(wave)} samples is shorter than one fbank frame (400 samples)')
        values = extractor(wave, sampling_rate=rate, return_tensors='np')['input_values'][0]
        return values[:min(frames, extractor.max_length)].astype(np.float32)
    values = extractor(wave, sampling_rate=rate, return_tensors='np')['input_features'][0].T
    frames = (len(wave) + extractor.n_fft // 2) // extractor.hop_length + 1
    return values[:min(frames, values.shape[0])].astype(np.float32)


def max_duration(kind: str, extractor, config) -> float:
    """Most seconds of audio the model reads (its window; waveform models: unbounded, inf)."""
    if kind == 'whisper':
        return extractor.n_samples / extractor.sampling_rate
    if kind == 'ast':
        return (400 + 160 * (extractor.max_length - 1)) / extractor.sampling_rate
    return math.inf


# ------------------------------------------------------------------ model side
def model_inputs(kind: str, backbone: nn.Module, frames: Tensor, valid: Tensor, *, pad_value: float,
                 attention: bool) -> Tuple[dict, Tensor]:
    """Batch frames (b, T, F) + frame mask (b, T) -> (the model's keyword inputs, per-sample real frames (b,))."""
    lengths = valid.long().sum(dim=1)
    if kind == 'waveform':
        frames = torch.where(valid[..., None], frames, 0.0)
        inputs = {'input_values': frames.flatten(1)}
        if attention:
            inputs['attention_mask'] = valid.repeat_interleave(frames.shape[2], dim=1).long()
        return inputs, lengths
    window = _window(kind, backbone)
    if frames.shape[1] > window:
        raise ValueError(f'{frames.shape[1]} audio frames exceed the model\'s window of {window}; '
                         f'shorten max_duration in the pipeline')
    fill = _whisper_fill(frames, valid) if kind == 'whisper' else frames.new_full(frames.shape[:1], pad_value)
    padded = fill[:, None, None].expand(frames.shape[0], window, frames.shape[2]).clone()
    padded[:, :frames.shape[1]] = torch.where(valid[..., None], frames, fill[:, None, None])
    if kind == 'whisper':
        return {'input_features': padded.transpose(1, 2)}, lengths
    return {'input_values': padded}, lengths


def _window(kind: str, backbone: nn.Module) -> int:
    config = backbone.config
    return int(config.max_source_positions) * 2 if kind == 'whisper' else int(config.max_length)


def _whisper_fill(frames: Tensor, valid: Tensor) -> Tensor:
    """Per sample, the normalised log-mel of silence: max(v_max - 2, -1.5) (Whisper's clamp and scale)."""
    top = torch.where(valid[..., None], frames, torch.finfo(frames.dtype).min).amax(dim=(1, 2))
    return torch.clamp(top - WHISPER_RANGE, min=WHISPER_FLOOR)


def token_mask(kind: str, backbone: nn.Module, lengths: Tensor, num_tokens: int, frame_width: int) -> Tensor:
    """(b,) real input frames -> (b, num_tokens) bool real output tokens."""
    arange = torch.arange(num_tokens, device=lengths.device)
    if kind == 'waveform':
        out = backbone._get_feat_extract_output_lengths(lengths * frame_width)
        return arange[None] < out[:, None]
    if kind == 'whisper':
        return 2 * arange[None] < lengths[:, None]
    config = backbone.config
    f_dim, t_dim = backbone.embeddings.get_shape(config)
    time = torch.arange(f_dim * t_dim, device=lengths.device) % t_dim * config.time_stride
    patches = time[None] < lengths[:, None]
    return torch.cat([patches.new_ones(patches.shape[0], num_tokens - patches.shape[1]), patches], dim=1)
