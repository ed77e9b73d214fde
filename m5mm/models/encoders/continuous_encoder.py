"""The base of the continuous encoders (image, video, audio, features): mask embedding, global
token, positions and transformer after a subclass's own tokenisation."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from m5mm.models.layers import TransformerEncoder
from m5mm.structures import EncoderOutput
from .encoder_utils import (EncoderInputError, build_projection, interpolate_grid_positions, masked_mean,
                            random_token_mask, zero_invalid)


class ContinuousEncoder(nn.Module):
    """Base of the image, video, audio and feature encoders.

    A subclass embeds its input into tokens ``x`` (B, N, D) and calls :meth:`encode`, which
    replaces a ``mask_ratio`` share of the real tokens of present samples by a learned mask
    embedding, prepends the global token (masked mean of the tokens), adds learned positions,
    runs a :class:`~m5mm.models.layers.TransformerEncoder` and projects token 0 to ``pooled``.

    Attributes:
        dim: token width D.
        out_dim: width of ``pooled``.
        max_tokens: number of input tokens the position table holds (global token excluded).
    """

    def __init__(self, *, dim: int, depth: int, num_heads: int, mlp_ratio: float, dropout: float,
                 max_tokens: int, pooled_proj: str, pooled_dim: Optional[int]) -> None:
        super().__init__()
        self.dim = dim
        self.max_tokens = max_tokens
        self.mask_embed = nn.Parameter(torch.zeros(dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, max_tokens + 1, dim))
        nn.init.trunc_normal_(self.mask_embed, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.transformer = TransformerEncoder(dim=dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio,
                                              dropout=dropout)
        self.pooled_proj, self.out_dim = build_projection(pooled_proj, dim, pooled_dim)

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' dtype; floating inputs are cast to it (DeepSpeed bf16 casts the model)."""
        return self.mask_embed.dtype

    def positions(self, num_tokens: int) -> Tensor:
        """(1, num_tokens + 1, D) position embeddings, global token first."""
        if num_tokens > self.max_tokens:
            raise EncoderInputError(f'{type(self).__name__} got {num_tokens} tokens but holds positions for '
                                    f'{self.max_tokens}; raise max_tokens/max_frames or shorten the input')
        return self.pos_embed[:, :num_tokens + 1]

    def grid_positions(self, grid: int, height: int, width: int) -> Tensor:
        """(1, 1 + height*width, D) positions of a 2-d token grid (table made for grid x grid)."""
        cells = interpolate_grid_positions(self.pos_embed[:, 1:], grid, height, width)
        return torch.cat([self.pos_embed[:, :1], cells], dim=1)

    def encode(self, x: Tensor, token_mask: Tensor, present: Tensor, targets: Tensor, mask_ratio: float,
               pos: Optional[Tensor] = None) -> EncoderOutput:
        """Mask, add the global token and positions, run the transformer.

        Args:
            x: (B, N, D) input token embeddings.
            token_mask: (B, N) bool, True for real (non-padding) tokens.
            present: (B,) bool.
            targets: (B, N, F) regression targets (a fixed function of the input).
            mask_ratio: share of the real tokens of present samples to mask.
            pos: (1, N + 1, D) positions (default :meth:`positions`).

        Returns:
            ``EncoderOutput`` with N + 1 tokens; row 0 of ``targets`` and ``masked`` is unused.
        """
        valid = token_mask.bool() & present[:, None]
        masked = random_token_mask(valid, mask_ratio)
        x = zero_invalid(x, valid)
        x = torch.where(masked[..., None], self.mask_embed.to(x.dtype), x)
        x = torch.cat([masked_mean(x, valid)[:, None], x], dim=1)
        x = x + (self.positions(valid.shape[1]) if pos is None else pos)
        mask = torch.cat([present[:, None], valid], dim=1)
        tokens = self.transformer(x, mask)
        pad = targets.new_zeros(targets.shape[0], 1, targets.shape[2])
        return EncoderOutput(tokens=tokens, mask=mask, pooled=self.pooled_proj(tokens[:, 0]), present=present,
                             targets=torch.cat([pad, zero_invalid(targets, valid)], dim=1),
                             masked=torch.cat([torch.zeros_like(masked[:, :1]), masked], dim=1))
