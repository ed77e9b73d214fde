"""Audio encoder on log-mel spectrograms."""
from __future__ import annotations

from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from m5mm.registry import ENCODERS
from m5mm.structures import EncoderOutput

from .continuous_encoder import ContinuousEncoder
from .encoder_utils import EncoderInputError, fetch, fetch_mask, fetch_present


@ENCODERS.register_module()
class AudioMelEncoder(ContinuousEncoder):
    """Groups of ``patch_frames`` mel frames -> Linear -> tokens + learned positions + transformer.

    Reads ``mel`` (B, T, n_mels), ``frame_mask`` (B, T) bool (all True when missing) and
    ``present`` (B,). T is zero-padded to a multiple of ``patch_frames``; a token is real when
    any of its frames is. Its masked-modelling target is its mel values (F = patch_frames *
    n_mels, padding frames zeroed).

    Args:
        n_mels: mel bins per frame; left unset in a config, the backbone takes it from the audio
            pipeline (``LoadAudioMel(n_mels=...)``), else 80.
        patch_frames: frames per token.
        max_tokens: tokens the position table holds (12 s at 16 kHz, hop 256 = 751 frames
            -> 47 tokens of 16 frames).
        dim, depth, num_heads, mlp_ratio, dropout: the transformer (width D).
        pooled_proj, pooled_dim: projection of token 0 to ``pooled``.
    """

    #: the data facts the builder passes (see m5mm.models.builders.needed_facts)
    needs = ('n_mels',)

    def __init__(self, *, n_mels: int = 80, patch_frames: int = 16, max_tokens: int = 64, dim: int = 768,
                 depth: int = 6, num_heads: int = 12, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 pooled_proj: str = 'identity', pooled_dim: Optional[int] = None) -> None:
        super().__init__(dim=dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                         max_tokens=max_tokens, pooled_proj=pooled_proj, pooled_dim=pooled_dim)
        self.n_mels = n_mels
        self.patch_frames = patch_frames
        self.embed = nn.Linear(patch_frames * n_mels, dim)

    @property
    def target_dim(self) -> int:
        """F, the width of the masked-modelling targets (the mel values of one token)."""
        return self.patch_frames * self.n_mels

    def forward(self, inputs: Mapping[str, Tensor], mask_ratio: float = 0.0) -> EncoderOutput:
        """inputs: ``mel`` (B, T, n_mels), ``frame_mask`` (B, T), ``present`` (B,)
        -> EncoderOutput with 1 + ceil(T / patch_frames) tokens."""
        name = type(self).__name__
        mel = fetch(inputs, 'mel', '(B, T, n_mels)', name)
        if mel.shape[2] != self.n_mels:
            raise EncoderInputError(f'{name}: mel must have {self.n_mels} bins (n_mels), '
                                    f'got {tuple(mel.shape)}')
        present = fetch_present(inputs, mel.shape[0], name)
        valid = fetch_mask(inputs, 'frame_mask', mel, name) & present[:, None]
        pad = -mel.shape[1] % self.patch_frames
        mel = F.pad(mel.to(self.dtype), (0, 0, 0, pad))
        valid = F.pad(valid, (0, pad), value=False)
        mel = torch.where(valid[..., None], mel, 0.0)
        patches = rearrange(mel, 'b (n p) m -> b n (p m)', p=self.patch_frames)
        token_mask = rearrange(valid, 'b (n p) -> b n p', p=self.patch_frames).any(dim=-1)
        return self.encode(self.embed(patches), token_mask, present, patches, mask_ratio)
