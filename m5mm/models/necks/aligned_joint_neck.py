"""``joint`` from the aligned (contrastive) embeddings: the mean of the present modalities' unit vectors."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from m5mm.registry import NECKS
from m5mm.structures import FusionOutput, HarmonizerOutput
from .base_joint_neck import BaseJointNeck
from .modality_completion import ModalityCompletion
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

    With ``complete``, a product's absent modalities are filled in before the mean, each predicted
    linearly from its present ones (:class:`ModalityCompletion`: ridge regressions between the
    modalities' vectors, fitted from running moments over training; buffers ``completion.*``). A
    title-only listing then has a vector of the same make as a complete record's (its title plus the
    image, table... its title implies) instead of a title vector that, in a mixed index, is nearest to
    other title-only listings. A prediction counts with the mean weight of the sample's present
    modalities (its length, shrunk by the regression, says how much it carries).

    :meth:`of_subset` is the ``joint`` of the step's records with only some of their modalities: the
    same combination over a smaller presence mask (what ``SubsetConsistencyObjective`` contrasts with
    the full record's ``joint``; no second pass through the towers or the fusion).

    Args:
        importance: weigh the modalities by the harmonizer's importances (needs a harmonizer).
        centre: subtract each modality's running mean (needs ``width``).
        complete: fill in absent modalities by the running linear predictions (needs ``width``).
        ridge: the ridge penalty of those predictions.
        width: the projected embeddings' width (default: ``dim``, the fusion width).
        momentum: weight of the old statistics in each update (running mean and moments).
        (others: see :class:`BaseJointNeck`)
    """

    def __init__(self, *, modalities: Sequence[str], dim: Optional[int] = None, normalize: bool = True,
                 importance: bool = False, centre: bool = False, complete: bool = False, ridge: float = 0.1,
                 width: Optional[int] = None, momentum: float = 0.99) -> None:
        super().__init__(modalities=modalities, dim=dim, normalize=normalize)
        self.importance = bool(importance)
        self.requires_harmonizer = self.importance
        width = width or dim
        if (centre or complete) and width is None:
            raise ValueError(f'{type(self).__name__}(centre=True / complete=True) needs the embeddings\' `width` '
                             f'(the fusion declares no width to default to)')
        self.centre = RunningCentre(modalities=self.modalities, dim=int(width), momentum=momentum) if centre else None
        self.completion = ModalityCompletion(modalities=self.modalities, dim=int(width), momentum=momentum,
                                             ridge=ridge) if complete else None

    def _units(self, embeddings: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """{m: (B, D)} unit vectors (float32) of the projected embeddings."""
        widths = {m: int(embeddings[m].shape[-1]) for m in self.modalities}
        if len(set(widths.values())) > 1:
            raise ValueError(f'{type(self).__name__} averages the projected embeddings, which need one width; got '
                             f'{widths} (set the backbone\'s `projection` head)')
        return {m: F.normalize(embeddings[m].float(), dim=-1) for m in self.modalities}

    def _stacked(self, embeddings: Mapping[str, Tensor]) -> Tensor:
        """(B, M, D) unit vectors, centred and normalised again with ``centre``."""
        return self._stack(self._units(embeddings))

    def _stack(self, units: Dict[str, Tensor]) -> Tensor:
        """{m: (B, D)} unit vectors -> (B, M, D), centred and normalised again with ``centre``."""
        if self.centre is not None:   # centred, then unit again: every present modality counts alike
            units = {m: F.normalize(v, dim=-1) for m, v in self.centre(units).items()}
        return torch.stack([units[m] for m in self.modalities], dim=1)

    def _present(self, ctx: 'ForwardContext') -> Tensor:
        return torch.stack([ctx.present[m].bool() for m in self.modalities], dim=1)                     # (B, M)

    def combine(self, ctx: 'ForwardContext') -> Tensor:
        return self._combine(ctx, self._present(ctx), ctx.pair_weights('clean_embeddings') if self.importance else None)

    def of_subset(self, ctx: 'ForwardContext', present: Optional[Mapping[str, Tensor]] = None) -> Tensor:
        """(B, D) ``joint`` (before normalisation) of the step's records with only the modalities ``present``
        ({m: (B,) bool}, a subset of the step's; None: the step's own, i.e. :meth:`combine`): the same
        combination of the step's unmasked embeddings over the smaller presence mask (the harmonizer weighs
        the subset again; absent modalities completed from the subset), as :meth:`combine` forms it for
        a record that has only those modalities. No fusion pass."""
        if present is None:
            return self.combine(ctx)
        present = {m: present[m].bool() & ctx.present[m].bool() for m in self.modalities}
        weights = ctx.backbone.harmonize(ctx.clean_embeddings, present) if self.importance else None
        return self._combine(ctx, torch.stack([present[m] for m in self.modalities], dim=1), weights)

    def _combine(self, ctx: 'ForwardContext', present: Tensor, weights: Optional[HarmonizerOutput]) -> Tensor:
        """(B, D) weighted mean of the (completed) unit vectors of the step's unmasked embeddings over the (B, M)
        ``present`` modalities, weighed by the harmonizer's pair ``weights`` of them when given."""
        embeddings = ctx.clean_embeddings
        stacked = self._stacked(embeddings)
        share = present.float()
        if weights is not None:
            learned = ctx.backbone.harmonizer.sample_importance(weights.weights, present).float().clamp_min(0.0)
            learned = learned * share
            share = torch.where(learned.sum(dim=1, keepdim=True) > 0, learned, share)
        if self.completion is not None:   # absent modalities predicted, at the present ones' mean weight
            stacked = self.completion(stacked, present)
            mean_share = share.sum(dim=1, keepdim=True) / present.float().sum(dim=1, keepdim=True).clamp_min(1.0)
            share = torch.where(present, share, mean_share.expand_as(share))
        joint = (share[..., None] * stacked).sum(dim=1) / share.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return joint.to(embeddings[self.modalities[0]].dtype)

    def update(self, ctx: 'ForwardContext') -> None:
        if self.centre is None and self.completion is None:
            return
        source = ctx.clean_embeddings if ctx.computed('clean_embeddings') else ctx.embeddings
        units = self._units(source)
        if self.centre is not None:
            self.centre.update(units, ctx.present)
        if self.completion is not None:   # with the centre just updated, as combine() will read them
            self.completion.update(self._stack(units), self._present(ctx))

    def of_fusion(self, fused: FusionOutput, present: Mapping[str, Tensor]) -> Tensor:
        raise TypeError(f'{type(self).__name__} forms `joint` from the projected embeddings, not from a fusion '
                        f'output; the `joint` of a modality subset (SubsetConsistencyObjective) is '
                        f'of_subset(ctx, present)')
