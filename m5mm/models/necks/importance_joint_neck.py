"""``joint`` weighted by the harmonizer's per-sample importances of the fused vectors."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from m5mm.registry import NECKS
from .base_joint_neck import BaseJointNeck

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext


@NECKS.register_module()
class ImportanceJointNeck(BaseJointNeck):
    """``joint[b] = sum_m a[b, m] fused[m][b] / sum_m a[b, m]`` with ``a`` the per-sample importances of
    the harmonizer's weights of the fused vectors
    (:meth:`~m5mm.models.harmonizers.BaseHarmonizer.sample_importance`, clamped at 0); the fusion's
    ``joint`` where all are 0. Needs a harmonizer. A modality subset's ``joint`` (:meth:`of_fusion`) is
    the fusion's. See :class:`BaseJointNeck` for the arguments."""

    requires_harmonizer = True

    def combine(self, ctx: 'ForwardContext') -> Tensor:
        fused = ctx.fused
        weights = ctx.pair_weights('fused').weights
        present = torch.stack([ctx.present[m].bool() for m in self.modalities], dim=1)      # (B, M)
        share = ctx.backbone.harmonizer.sample_importance(weights, present).clamp_min(0.0)  # (B, M)
        stacked = torch.stack([fused.fused[m] for m in self.modalities], dim=1)           # (B, M, D)
        total = share.sum(dim=1, keepdim=True)
        mixed = (share[..., None].to(stacked.dtype) * stacked).sum(dim=1) / total.clamp_min(1e-12).to(stacked.dtype)
        return torch.where(total > 0, mixed, fused.joint)
