"""Logic shared by the encoders: input checks, pooled projection, random token masking, and
the tail of the continuous encoders (mask embedding, global token, positions, transformer).

Every encoder zero-fills the inputs of absent samples and padding before using them, so an
absent sample's data can change nothing (neither other samples' outputs nor its own masked
outputs), and every parameter takes part in every forward pass (``torch.where`` keeps
unselected branches in the graph), so DDP/DeepSpeed never see unused parameters.
"""
from __future__ import annotations

from typing import Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from m5mm.models.layers import TransformerEncoder
from m5mm.structures import EncoderOutput

PROJECTIONS = ('identity', 'linear', 'linear_relu')


class EncoderInputError(ValueError):
    """A modality batch entry lacks a key or has a tensor of the wrong shape."""


def fetch(inputs: Mapping, key: str, shape: str, owner: str) -> Tensor:
    """``inputs[key]``, checked to be a tensor with as many dims as ``shape`` (e.g. ``'(B, T, M)'``)."""
    if not isinstance(inputs, Mapping):
        raise EncoderInputError(f'{owner} expects a dict of tensors (one modality entry of the batch), '
                                f'got {type(inputs).__name__}')
    if key not in inputs:
        raise EncoderInputError(f'{owner} needs inputs[{key!r}] {shape}; the entry has keys {sorted(inputs)}')
    value = inputs[key]
    ndim = len([d for d in shape.strip('()').split(',') if d.strip()])
    if not isinstance(value, Tensor) or value.dim() != ndim:
        got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise EncoderInputError(f'{owner}: inputs[{key!r}] must be a tensor of shape {shape}, got {got}')
    return value


def fetch_mask(inputs: Mapping, key: str, data: Tensor, owner: str) -> Tensor:
    """``inputs[key]`` (B, N) bool matching ``data``'s first two dims (all True when absent)."""
    if key not in inputs:
        return torch.ones(data.shape[:2], dtype=torch.bool, device=data.device)
    mask = fetch(inputs, key, '(B, N)', owner)
    if mask.shape != data.shape[:2]:
        raise EncoderInputError(f'{owner}: {key} {tuple(mask.shape)} does not match the data '
                                f'{tuple(data.shape)}')
    return mask.bool()


def fetch_present(inputs: Mapping, batch_size: int, owner: str) -> Tensor:
    """``inputs['present']`` as (B,) bool (all True when the entry has no ``present``)."""
    if 'present' not in inputs:
        return torch.ones(batch_size, dtype=torch.bool, device=_device_of(inputs))
    present = fetch(inputs, 'present', '(B,)', owner)
    if present.numel() != batch_size:
        raise EncoderInputError(f'{owner}: inputs["present"] has {present.numel()} entries for a batch of '
                                f'{batch_size} samples')
    return present.bool()


def _device_of(inputs: Mapping) -> torch.device:
    return next((v.device for v in inputs.values() if isinstance(v, Tensor)), torch.device('cpu'))


def build_projection(kind: str, in_dim: int, out_dim: Optional[int]) -> Tuple[nn.Module, int]:
    """The pooled projection and its output width.

    Args:
        kind: ``'identity'``, ``'linear'`` or ``'linear_relu'`` (the authors' contrastive
            projection, e.g. 768 -> 1024 + ReLU).
        in_dim: token width D.
        out_dim: projected width (None: ``in_dim``).
    """
    out_dim = in_dim if out_dim is None else out_dim
    if kind == 'identity':
        if out_dim != in_dim:
            raise ValueError(f"pooled_proj='identity' keeps the width {in_dim}; got pooled_dim={out_dim} "
                             f"(use 'linear' or 'linear_relu')")
        return nn.Identity(), in_dim
    if kind == 'linear':
        return nn.Linear(in_dim, out_dim), out_dim
    if kind == 'linear_relu':
        return nn.Sequential(nn.Linear(in_dim, out_dim), nn.ReLU()), out_dim
    raise ValueError(f'unknown pooled_proj {kind!r}; choose one of {PROJECTIONS}')


def random_token_mask(valid: Tensor, ratio: float) -> Tensor:
    """(B, N) bool valid tokens -> (B, N) bool tokens to mask.

    Each row masks ``round(ratio * n_valid)`` of its valid tokens, at least one when it has
    any and ``ratio > 0``; invalid tokens are never masked.
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f'mask_ratio must be in [0, 1), got {ratio}')
    if ratio == 0.0:
        return torch.zeros_like(valid)
    count = valid.sum(dim=1)
    k = torch.minimum((count.float() * ratio).round().long().clamp(min=1), count)
    scores = torch.rand(valid.shape, device=valid.device).masked_fill(~valid, 2.0)
    rank = scores.argsort(dim=1).argsort(dim=1)
    return rank < k[:, None]


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """x (B, N, D), mask (B, N) bool -> (B, D) mean over the True tokens (zeros for empty rows)."""
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def zero_invalid(x: Tensor, valid: Tensor) -> Tensor:
    """Zero ``x`` (B, N, ...) where ``valid`` (B, N) is False; keeps every other value."""
    return torch.where(valid.view(*valid.shape, *([1] * (x.dim() - valid.dim()))), x, torch.zeros_like(x))


def interpolate_grid_positions(pos: Tensor, grid: int, height: int, width: int) -> Tensor:
    """pos (1, G*G, D) learned on a G x G grid -> (1, height*width, D), bicubic when the grid differs."""
    if (height, width) == (grid, grid):
        return pos
    pos = rearrange(pos, '1 (h w) d -> 1 d h w', h=grid)
    pos = F.interpolate(pos.float(), size=(height, width), mode='bicubic', align_corners=False).to(pos.dtype)
    return rearrange(pos, '1 d h w -> 1 (h w) d')


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
