"""Patch / frame dropout (FLIP, Li et al., CVPR 2023): a training step encodes a random subset of
an image's patches or a video's frames, so the tower's cost falls with the kept share."""
from __future__ import annotations

import torch
from torch import Tensor


def check_keep(keep: float, what: str) -> float:
    """``keep`` as a float in (0, 1]; a clear error otherwise."""
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0.0 < keep <= 1.0:
        raise ValueError(f'{what} must be in (0, 1], got {keep!r}')
    return float(keep)


def keep_indices(valid: Tensor, keep: float) -> Tensor:
    """(B, N) bool valid tokens -> (B, K) long indices of the tokens to keep, in their original
    order, K = max(1, round(keep * N)); a row keeps valid tokens (drawn uniformly) before invalid
    ones. Draws from torch's global RNG."""
    k = max(1, int(round(keep * valid.shape[1])))
    scores = torch.rand(valid.shape, device=valid.device).masked_fill(~valid.bool(), 2.0)
    return scores.argsort(dim=1)[:, :k].sort(dim=1).values


def gather_tokens(x: Tensor, ids: Tensor) -> Tensor:
    """x (B, N, ...) and ids (B, K) -> (B, K, ...); x may have batch size 1 (shared positions)."""
    x = x.expand(ids.shape[0], *x.shape[1:])
    index = ids.reshape(*ids.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
    return x.gather(1, index)


def keep_positions(pos: Tensor, ids: Tensor) -> Tensor:
    """(1, N + 1, D) positions (global token first) -> (B, K + 1, D) of the kept tokens."""
    return torch.cat([pos[:, :1].expand(ids.shape[0], -1, -1), gather_tokens(pos[:, 1:], ids)], dim=1)
