"""Point-cloud encoder: farthest-point patches of nearest neighbours -> mini-PointNet tokens."""
from __future__ import annotations

from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from m5mm.models.encoders import ContinuousEncoder, EncoderInputError
from m5mm.models.encoders import fetch, fetch_mask, fetch_present, zero_invalid
from m5mm.registry import ENCODERS
from m5mm.structures import EncoderOutput

from .grouping import farthest_point_sample, gather_points, knn_group


@ENCODERS.register_module()
class PointCloudEncoder(ContinuousEncoder):
    """Point patches -> mini-PointNet -> tokens + centre positions + transformer (Point-MAE style).

    Reads ``points`` (B, N, 3), ``point_mask`` (B, N) bool (all True when missing) and
    ``present`` (B,). ``num_groups`` centres are picked by farthest point sampling among the
    valid points; each centre's ``group_size`` nearest valid points, relative to the centre,
    go through a shared per-point MLP and a max-pool into one token (a sample with n < G valid
    points has n real tokens). A centre's position embedding (an MLP of its coordinates) is
    added after masking, so a masked token keeps where it is and loses what it looks like. The
    masked-modelling target of a token is its patch: the centred coordinates of its neighbours,
    nearest first (F = group_size * 3, missing neighbours 0).

    Args:
        num_groups: G, tokens per cloud (the position table holds G).
        group_size: K, points per patch.
        hidden_dim: width of the per-point MLP.
        dim, depth, num_heads, mlp_ratio, dropout: the transformer (width D).
        pooled_proj, pooled_dim: projection of token 0 to ``pooled``.
    """

    def __init__(self, *, num_groups: int = 64, group_size: int = 32, hidden_dim: int = 128, dim: int = 768,
                 depth: int = 6, num_heads: int = 12, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 pooled_proj: str = 'identity', pooled_dim: Optional[int] = None) -> None:
        super().__init__(dim=dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                         max_tokens=num_groups, pooled_proj=pooled_proj, pooled_dim=pooled_dim)
        if num_groups < 1 or group_size < 1:
            raise ValueError(f'num_groups and group_size must be >= 1, got {num_groups}, {group_size}')
        self.num_groups = num_groups
        self.group_size = group_size
        self.point_mlp = nn.Sequential(nn.Linear(3, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim))
        self.embed = nn.Sequential(nn.Linear(hidden_dim, dim), nn.LayerNorm(dim))
        self.centre_embed = nn.Sequential(nn.Linear(3, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim))

    @property
    def target_dim(self) -> int:
        """F, the width of the masked-modelling targets (K neighbours x 3 coordinates)."""
        return self.group_size * 3

    def group(self, points: Tensor, valid: Tensor):
        """points (B, N, 3), valid (B, N) -> centres (B, G, 3), patches (B, G, K, 3) relative to
        their centre, found (B, G, K) bool, token_mask (B, G) bool."""
        xyz = zero_invalid(points.float(), valid)
        centres = gather_points(xyz, farthest_point_sample(xyz, valid, self.num_groups))
        index, found = knn_group(xyz, valid, centres, self.group_size)
        patches = (gather_points(xyz, index) - centres[:, :, None]) * found[..., None]
        token_mask = torch.arange(self.num_groups, device=points.device)[None] < valid.sum(1, keepdim=True)
        return centres, patches, found, token_mask

    def forward(self, inputs: Mapping[str, Tensor], mask_ratio: float = 0.0) -> EncoderOutput:
        """inputs: ``points`` (B, N, 3), ``point_mask`` (B, N), ``present`` (B,)
        -> EncoderOutput with 1 + num_groups tokens."""
        name = type(self).__name__
        points = fetch(inputs, 'points', '(B, N, 3)', name)
        if points.shape[2] != 3:
            raise EncoderInputError(f'{name}: points must be (B, N, 3), got {tuple(points.shape)}')
        present = fetch_present(inputs, points.shape[0], name)
        valid = fetch_mask(inputs, 'point_mask', points, name) & present[:, None]
        centres, patches, found, token_mask = self.group(points, valid)
        feats = self.point_mlp(patches.to(self.dtype))                                 # (B, G, K, H)
        feats = feats.masked_fill(~found[..., None], float('-inf')).amax(dim=2)
        feats = torch.where(found.any(dim=2)[..., None], feats, torch.zeros_like(feats))
        pos = self.positions(self.num_groups) + F.pad(self.centre_embed(centres.to(self.dtype)), (0, 0, 1, 0))
        targets = rearrange(patches, 'b g k c -> b g (k c)')
        return self.encode(self.embed(feats), token_mask, present, targets, mask_ratio, pos=pos)
