"""``joint`` from the aligned (contrastive) embeddings: the mean of the present modalities' unit vectors."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from m5mm.registry import NECKS
from m5mm.structures import FusionOutput
from .base_joint_neck import BaseJointNeck
from .running_centre import RunningCentre

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

    With ``centre``, each modality's running mean of unit vectors over training is subtracted first
    and the result normalised again (``e_m = normalize(normalize(z_m) - mu_m)``, :class:`RunningCentre`;
    buffers ``centre.mean``, ``centre.seen``): contrastive training leaves every modality in its own
    cone (the "modality gap": a title and a photo of one product stay less alike than two photos of
    different products), and the offset between the cones is what makes products with different
    modalities far apart. The mean is taken over the training step's embeddings (those of the masked
    pass when objectives mask tokens). A collapsed modality
    (every product the same vector) keeps only noise after centring, normalised to a unit vector like
    the others: ``importance`` (the harmonizer's weights) is what gives it less say, and the collapse
    monitor (``CollapseMonitorHook``) warns about it.

    Args:
        importance: weigh the modalities by the harmonizer's importances (needs a harmonizer).
        centre: subtract each modality's running mean (needs ``width``).
        width: the projected embeddings' width (default: ``dim``, the fusion width).
        momentum: weight of the old mean in each update of the running mean.
        (others: see :class:`BaseJointNeck`)
    """

    def __init__(self, *, modalities: Sequence[str], dim: Optional[int] = None, normalize: bool = True,
                 importance: bool = False, centre: bool = False, width: Optional[int] = None,
                 momentum: float = 0.99) -> None:
        super().__init__(modalities=modalities, dim=dim, normalize=normalize)
        self.importance = bool(importance)
        self.requires_harmonizer = self.importance
        self.centre = None
        if centre:
            width = width or dim
            if width is None:
                raise ValueError(f'{type(self).__name__}(centre=True) needs the embeddings\' `width` (the fusion '
                                 f'declares no width to default to)')
            self.centre = RunningCentre(modalities=self.modalities, dim=int(width), momentum=momentum)

    def _units(self, embeddings: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """{m: (B, D)} unit vectors (float32) of the projected embeddings."""
        widths = {m: int(embeddings[m].shape[-1]) for m in self.modalities}
        if len(set(widths.values())) > 1:
            raise ValueError(f'{type(self).__name__} averages the projected embeddings, which need one width; got '
                             f'{widths} (set the backbone\'s `projection` head)')
        return {m: F.normalize(embeddings[m].float(), dim=-1) for m in self.modalities}

    def combine(self, ctx: 'ForwardContext') -> Tensor:
        embeddings = ctx.clean_embeddings
        units = self._units(embeddings)
        if self.centre is not None:   # centred, then unit again: every present modality counts alike
            units = {m: F.normalize(v, dim=-1) for m, v in self.centre(units).items()}
        stacked = torch.stack([units[m] for m in self.modalities], dim=1)                                  # (B,M,D)
        present = torch.stack([ctx.present[m].bool() for m in self.modalities], dim=1)                     # (B, M)
        share = present.float()
        if self.importance:
            weights = ctx.pair_weights('clean_embeddings').weights
            learned = ctx.backbone.harmonizer.sample_importance(weights, present).float().clamp_min(0.0) * share
            share = torch.where(learned.sum(dim=1, keepdim=True) > 0, learned, share)
        joint = (share[..., None] * stacked).sum(dim=1) / share.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return joint.to(embeddings[self.modalities[0]].dtype)

    def update(self, ctx: 'ForwardContext') -> None:
        if self.centre is not None:
            source = ctx.clean_embeddings if ctx.computed('clean_embeddings') else ctx.embeddings
            self.centre.update(self._units(source), ctx.present)

    def of_fusion(self, fused: FusionOutput, present: Mapping[str, Tensor]) -> Tensor:
        raise TypeError(f'{type(self).__name__} forms `joint` from the projected embeddings, not from a fusion '
                        f'output; an objective that contrasts fusion outputs of modality subsets '
                        f'(SubsetConsistencyObjective) needs a fusion neck (FusionJointNeck, CentredJointNeck)')
