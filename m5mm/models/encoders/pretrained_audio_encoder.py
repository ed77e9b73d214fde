"""Audio tower on a pretrained speech / audio model (wav2vec2, HuBERT, AST, the Whisper encoder ...)."""
from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import Tensor, nn

from m5mm.models.pretrained import audio
from m5mm.models.pretrained.loading import load_transformers_backbone
from m5mm.models.pretrained.processors import load_feature_extractor
from m5mm.registry import ENCODERS

from .encoder_utils import EncoderInputError, fetch, fetch_mask
from .pretrained_tower_encoder import Inputs, PretrainedTowerEncoder

MAX_WAVEFORM_TOKENS = 1500  # 30 s at 50 tokens per second


@ENCODERS.register_module()
class PretrainedAudioEncoder(PretrainedTowerEncoder):
    """A pretrained audio model's last tokens -> trainable :class:`FeatureEncoder` part.

    Reads ``mel`` (B, T, F) + ``frame_mask`` (B, T), the model's input frames made by
    ``dict(type='ProcessAudio', pretrained=...)`` in the pipeline (see
    :mod:`m5mm.models.pretrained.audio`: waveform chunks for wav2vec2-like models, fbank
    frames for AST, log-mel frames for Whisper), or cached ``feats`` + ``feat_mask``, and
    ``present`` (B,). Tokens after the end of a clip are masked; for Whisper, whose window is
    always 30 s, the tokens past the longest clip of the batch are dropped.
    Arguments: see :class:`PretrainedTowerEncoder` (``max_tokens`` defaults to the model's
    window, 1500 tokens for waveform models).
    """

    modality = 'audio'
    raw_key = 'mel'

    def load_backbone(self, pretrained: str) -> nn.Module:
        backbone = load_transformers_backbone(pretrained, modality='audio')
        extractor = load_feature_extractor(pretrained)
        kind = audio.audio_kind(backbone.config.model_type)
        pad = 0.0
        if kind == 'ast' and getattr(extractor, 'do_normalize', False):
            pad = -float(extractor.mean) / (2.0 * float(extractor.std))  # zero fbank padding, normalised
        attention = bool(getattr(extractor, 'return_attention_mask', False))
        backbone._m5mm_audio = dict(kind=kind, pad_value=pad, attention=attention)
        return backbone

    def default_max_tokens(self, backbone: nn.Module, probe: Tensor) -> int:
        kind = backbone._m5mm_audio['kind']
        if kind == 'waveform':
            return MAX_WAVEFORM_TOKENS
        return int(backbone.config.max_source_positions) if kind == 'whisper' else int(probe.shape[1])

    def dummy_inputs(self, backbone: nn.Module) -> Dict[str, Tensor]:
        kind = backbone._m5mm_audio['kind']
        config = backbone.config
        if kind == 'waveform':
            mel = torch.zeros(1, 8, audio.waveform_hop(config))
        else:
            mel = torch.zeros(1, 32, int(config.num_mel_bins))
        return {'mel': mel, 'frame_mask': torch.ones(mel.shape[:2], dtype=torch.bool),
                'present': torch.ones(1, dtype=torch.bool)}

    def backbone_tokens(self, backbone: nn.Module, inputs: Inputs) -> Tuple[Tensor, Tensor]:
        name = type(self).__name__
        spec = backbone._m5mm_audio
        frames = fetch(inputs, 'mel', '(B, T, F)', name).to(next(backbone.parameters()).dtype)
        valid = fetch_mask(inputs, 'frame_mask', frames, name)
        try:
            model_inputs, lengths = audio.model_inputs(spec['kind'], backbone, frames, valid,
                                                       pad_value=spec['pad_value'], attention=spec['attention'])
        except ValueError as exc:
            raise EncoderInputError(f'{name}: {exc}') from None
        tokens = backbone(**model_inputs).last_hidden_state
        mask = audio.token_mask(spec['kind'], backbone, lengths, tokens.shape[1], frames.shape[2])
        if spec['kind'] == 'whisper':
            keep = max(int(mask.sum(dim=1).max()), 1)
            tokens, mask = tokens[:, :keep], mask[:, :keep]
        return tokens, mask
