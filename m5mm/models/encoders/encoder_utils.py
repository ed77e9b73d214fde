"""Helpers shared by the encoders: input checks, pooled projection, random token masking,
masked pooling and position-table interpolation.

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
