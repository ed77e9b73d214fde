"""Point grouping for the encoder: farthest point sampling and k-nearest-neighbour patches.

Both work on padded batches with a (B, N) validity mask: invalid points (padding, absent
samples) are never picked as centres while a valid point is left and never become neighbours.
Geometry runs in float32 without gradients (indices only).
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor


def gather_points(points: Tensor, index: Tensor) -> Tensor:
    """points (B, N, C), index (B, ...) long -> (B, ..., C)."""
    batch = points.shape[0]
    flat = index.reshape(batch, -1)
    out = torch.gather(points, 1, flat[..., None].expand(-1, -1, points.shape[-1]))
    return out.reshape(*index.shape, points.shape[-1])


@torch.no_grad()
def farthest_point_sample(xyz: Tensor, valid: Tensor, num: int) -> Tensor:
    """Indices (B, num) of ``num`` centres chosen by farthest point sampling.

    Starts at each row's first valid point; a row with fewer than ``num`` valid points repeats
    points once they are exhausted (its extra centres are masked by the caller).

    Args:
        xyz: (B, N, 3) points.
        valid: (B, N) bool.
        num: number of centres.
    """
    xyz = xyz.float()
    rows = torch.arange(xyz.shape[0], device=xyz.device)
    dist = torch.full(valid.shape, float('inf'), device=xyz.device).masked_fill(~valid, -1.0)
    current = valid.to(torch.uint8).argmax(dim=1)  # first valid point (0 when none)
    chosen = [current]
    for _ in range(num - 1):
        step = ((xyz - xyz[rows, current][:, None]) ** 2).sum(-1)
        dist = torch.where(valid, torch.minimum(dist, step), dist)
        current = dist.argmax(dim=1)
        chosen.append(current)
    return torch.stack(chosen, dim=1)


@torch.no_grad()
def knn_group(xyz: Tensor, valid: Tensor, centres: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """The ``k`` valid points nearest to each centre, nearest first.

    Args:
        xyz: (B, N, 3) points.
        valid: (B, N) bool.
        centres: (B, G, 3).
        k: neighbours per centre.

    Returns:
        ``index`` (B, G, k) long into N and ``found`` (B, G, k) bool (False where a row has
        fewer than k valid points).
    """
    xyz, centres = xyz.float(), centres.float()
    if xyz.shape[1] < k:  # pad with invalid points so that top-k always has k candidates
        pad = k - xyz.shape[1]
        xyz = torch.nn.functional.pad(xyz, (0, 0, 0, pad))
        valid = torch.nn.functional.pad(valid, (0, pad), value=False)
    dist = ((centres[:, :, None, :] - xyz[:, None, :, :]) ** 2).sum(-1)  # (B, G, N)
    dist = dist.masked_fill(~valid[:, None, :], float('inf'))
    nearest, index = dist.topk(k, dim=-1, largest=False, sorted=True)
    return index, torch.isfinite(nearest)
