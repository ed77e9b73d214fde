"""``joint`` from the aligned (contrastive) embeddings: the mean of the present modalities' unit vectors."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from m5mm.registry import NECKS
from m5mm.structures import FusionOutput
from .base_joint_neck import BaseJointNeck

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext


@NECKS.register_module()
class AlignedJointNeck(BaseJointNeck):
    """``joint[b] = sum_m a[b, m] e_m[b] / sum_m a[b, m]`` with ``e_m = normalize(z_m)`` the unit
    projected embeddings of the unmasked pass (the space the inter-modality contrastive loss aligns)
    and ``a[b, m]`` 1 for the modalities sample b has (0 otherwise), or with ``importance`` the
    harmonizer's per-sample importances of those embeddings (clamped at 0; uniform where all are 0).

    Because every modality pair is pulled together in that space, a product's mean points the same
    way whichever of its modalities are present: a title-only listing, a photo-only query and a
    complete record of one product land near each other, where the fusion's ``joint`` also encodes
    which modalities went in (the presence gap, docs/benchmark.md). A partial query is then simply
    the product vector of the modalities it has. Needs projection heads of one width (the
    contrastive objective's condition); the fusion still runs for the masked objectives.

    Args:
        importance: weigh the modalities by the harmonizer's importances (needs a harmonizer).
        (others: see :class:`BaseJointNeck`)
    """

    def __init__(self, *, modalities, dim=None, normalize: bool = True, importance: bool = False) -> None:
        super().__init__(modalities=modalities, dim=dim, normalize=normalize)
        self.importance = bool(importance)
        self.requires_harmonizer = self.importance

    def combine(self, ctx: 'ForwardContext') -> Tensor:
        embeddings = ctx.clean_embeddings
        widths = {m: int(embeddings[m].shape[-1]) for m in self.modalities}
        if len(set(widths.values())) > 1:
            raise ValueError(f'{type(self).__name__} averages the projected embeddings, which need one width; got '
                             f'{widths} (set the backbone\'s `projection` head)')
        stacked = torch.stack([F.normalize(embeddings[m].float(), dim=-1) for m in self.modalities], dim=1)  # (B,M,D)
        present = torch.stack([ctx.present[m].bool() for m in self.modalities], dim=1)                     # (B, M)
        share = present.float()
        if self.importance:
            weights = ctx.pair_weights('clean_embeddings').weights
            learned = ctx.backbone.harmonizer.sample_importance(weights, present).float().clamp_min(0.0) * share
            share = torch.where(learned.sum(dim=1, keepdim=True) > 0, learned, share)
        joint = (share[..., None] * stacked).sum(dim=1) / share.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return joint.to(embeddings[self.modalities[0]].dtype)

    def of_fusion(self, fused: FusionOutput, present: Mapping[str, Tensor]) -> Tensor:
        raise TypeError(f'{type(self).__name__} forms `joint` from the projected embeddings, not from a fusion '
                        f'output; an objective that contrasts fusion outputs of modality subsets '
                        f'(SubsetConsistencyObjective) needs a fusion neck (FusionJointNeck, CentredJointNeck)')
