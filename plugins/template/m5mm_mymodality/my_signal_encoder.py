"""The encoder: the modality's tensors -> tokens (B, N, D), mask, pooled vector, masked-modelling targets."""
from __future__ import annotations

from typing import Mapping, Optional

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from m5mm.models.encoders import ContinuousEncoder, EncoderInputError
from m5mm.models.encoders import fetch, fetch_mask, fetch_present, zero_invalid
from m5mm.registry import ENCODERS
from m5mm.structures import EncoderOutput


@ENCODERS.register_module()
class MySignalEncoder(ContinuousEncoder):  # TODO(plugin): name it after what it encodes
    """Groups of ``patch_len`` steps -> Linear -> tokens + positions + transformer.

    :class:`~m5mm.models.encoders.ContinuousEncoder` does the rest: ``encode`` masks
    ``mask_ratio`` of the real tokens by a learned embedding, prepends the global token, adds
    positions, runs the transformer and projects token 0 to ``pooled``. The masked-modelling
    target of a token (``target_dim`` values) must be a fixed function of the input: here the
    token's raw values.

    Args:
        channels: C.
        patch_len: steps per token.
        max_tokens: tokens the position table holds.
        dim, depth, num_heads, mlp_ratio, dropout: the transformer (width D).
        pooled_proj, pooled_dim: projection of token 0 to ``pooled``.
    """

    def __init__(self, *, channels: int = 3, patch_len: int = 4, max_tokens: int = 32, dim: int = 768,
                 depth: int = 6, num_heads: int = 12, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 pooled_proj: str = 'identity', pooled_dim: Optional[int] = None) -> None:
        super().__init__(dim=dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                         max_tokens=max_tokens, pooled_proj=pooled_proj, pooled_dim=pooled_dim)
        self.channels = channels
        self.patch_len = patch_len
        self.embed = nn.Linear(patch_len * channels, dim)

    @property
    def target_dim(self) -> int:
        """Width of the masked-modelling targets (MaskedFeatureRegressionObjective sizes its head with it)."""
        return self.patch_len * self.channels

    def forward(self, inputs: Mapping[str, Tensor], mask_ratio: float = 0.0) -> EncoderOutput:
        """inputs: ``values`` (B, T, C), ``value_mask`` (B, T), ``present`` (B,)
        -> EncoderOutput with 1 + ceil(T / patch_len) tokens."""
        name = type(self).__name__
        values = fetch(inputs, 'values', '(B, T, C)', name)
        if values.shape[2] != self.channels:
            raise EncoderInputError(f'{name}: values must have {self.channels} channels, '
                                    f'got {tuple(values.shape)}')
        present = fetch_present(inputs, values.shape[0], name)
        valid = fetch_mask(inputs, 'value_mask', values, name) & present[:, None]
        pad = -values.shape[1] % self.patch_len
        valid = F.pad(valid, (0, pad), value=False)
        values = zero_invalid(F.pad(values.to(self.dtype), (0, 0, 0, pad)), valid)
        patches = rearrange(values, 'b (n p) c -> b n (p c)', p=self.patch_len)
        token_mask = rearrange(valid, 'b (n p) -> b n p', p=self.patch_len).any(dim=-1)
        return self.encode(self.embed(patches), token_mask, present, patches, mask_ratio)
