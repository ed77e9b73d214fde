"""The base of a joint neck: how a backbone forms the product vector ``joint`` from a step's context."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar, Mapping, Optional, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from m5mm.structures import FusionOutput

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext


class BaseJointNeck(nn.Module):
    """``neck(ctx) -> joint (B, D)``: the product vector of :meth:`MultiModalBackbone.features`
    (retrieval, probes, the classifier's features), L2-normalised when ``normalize``.

    A subclass implements :meth:`combine`; it may keep running statistics (:meth:`update`, called by
    the model in every training step) and say how it forms ``joint`` of another fusion output
    (:meth:`of_fusion`, e.g. a modality subset's). The backbone passes ``modalities`` and ``dim``
    (the fusion width, None when the fusion declares none) to every neck. :meth:`of_subset` is the
    ``joint`` of the step's records with fewer modalities (``SubsetConsistencyObjective``).

    Args:
        modalities: the backbone's modalities, in order.
        dim: the fusion width.
        normalize: L2-normalise ``joint``. A mean of fused vectors has a norm that depends on how
            many modalities a product has and how much they agree, so under a dot product the
            incomplete records become hubs that every query retrieves (docs/benchmark.md, "More
            modalities"); unit vectors rank by cosine.
    """

    #: whether the neck reads the harmonizer's weights (the backbone checks it has one)
    requires_harmonizer: ClassVar[bool] = False

    def __init__(self, *, modalities: Sequence[str], dim: Optional[int] = None, normalize: bool = True) -> None:
        super().__init__()
        self.modalities = list(modalities)
        self.dim = dim
        self.normalize = bool(normalize)

    def forward(self, ctx: 'ForwardContext') -> Tensor:
        """(B, D) ``joint`` of the step, normalised when :attr:`normalize`."""
        joint = self.combine(ctx)
        return F.normalize(joint.float(), dim=-1).to(joint.dtype) if self.normalize else joint

    def combine(self, ctx: 'ForwardContext') -> Tensor:
        """(B, D) ``joint`` before normalisation."""
        raise NotImplementedError

    def of_fusion(self, fused: FusionOutput, present: Mapping[str, Tensor]) -> Tensor:
        """(B, D) ``joint`` (before normalisation) of a fusion output other than the step's: the fusion's own."""
        return fused.joint

    def of_subset(self, ctx: 'ForwardContext', present: Optional[Mapping[str, Tensor]] = None) -> Tensor:
        """(B, D) ``joint`` (before normalisation) of the step's records with only the modalities ``present``
        ({m: (B,) bool}; None: the step's own): the fusion runs again on the step's encoder outputs with
        ``present`` changed (a tower does not see the other modalities), read by :meth:`of_fusion`."""
        if present is None:
            return self.of_fusion(ctx.fused, ctx.present)
        encoded = {m: replace(ctx.encoded[m], present=present[m]) for m in self.modalities}
        return self.of_fusion(ctx.backbone.fuse(encoded), present)

    def update(self, ctx: 'ForwardContext') -> None:
        """Update running statistics from a training step (none by default)."""
