"""Subset consistency: a product's vector from a random subset of its modalities finds the product."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict

import torch
import torch.nn.functional as F
from torch import Tensor

from m5mm.models.backbones.modality_dropout import drop_modalities
from m5mm.registry import OBJECTIVES
from .base_objective import BaseObjective

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext


@OBJECTIVES.register_module()
class SubsetConsistencyObjective(BaseObjective):
    """InfoNCE between the ``joint`` vector of each product and the ``joint`` vector of a random
    subset of its modalities: the two are positives, the other products of the batch negatives.

    A product's vector should say what the product is, not which modalities it came with; this
    term makes a partial record (a text-only listing, a query with only a title) land next to the
    full record of the same product instead of next to other partial records (docs/benchmark.md,
    "Presence pattern").

    Each step draws the subset per sample with :func:`~m5mm.models.backbones.modality_dropout.drop_modalities`
    (each present modality dropped with ``drop_rate``, at least one kept). The encoders run once (a
    tower does not see the other modalities); both vectors are the neck's
    :meth:`~m5mm.models.necks.BaseJointNeck.of_subset`. With a fusion neck the subset's encoder outputs
    are the step's with ``present`` changed, the fusion runs again and ``joint`` is read as the neck
    reads a fusion output (``of_fusion``: the fusion's, minus the running centre for
    ``CentredJointNeck``; the fusion's for ``ImportanceJointNeck``). With ``AlignedJointNeck`` the
    subset's ``joint`` is the neck's combination of the step's unmasked projected embeddings over the
    smaller presence mask (the harmonizer weighs the subset again, its absent modalities are completed
    from it; no fusion pass), the full record's is the step's ``joint`` before normalisation. Logits are
    ``cos(full_b, part_c) / T`` over the samples of the local batch that have any modality (no
    gathering across processes); the loss is the mean of both directions' cross-entropy. Fewer than
    2 such samples give a 0.

    Args:
        drop_rate: probability of dropping each present modality from the subset, in (0, 1).
        temperature: softmax temperature T.
        loss_weight: factor of ``loss_{name}``.
        complementary: contrast the kept modalities' ``joint`` with the ``joint`` of the dropped ones
            (two disjoint halves of one product) instead of the full record's: a half cannot find its
            product through a modality the other half also has, only through what the modalities of one
            product share (cross-modal agreement, the neck's completion). Samples with nothing dropped
            are left out.
        name: key suffix of the outputs (``loss_subset``, ``acc_subset``).
    """

    min_modalities = 2
    needs = ()

    def __init__(self, *, drop_rate: float = 0.5, temperature: float = 0.07, loss_weight: float = 1.0,
                 complementary: bool = False, name: str = 'subset') -> None:
        super().__init__(name=name, loss_weight=loss_weight)
        if not 0.0 < drop_rate < 1.0:
            raise ValueError(f'drop_rate must be in (0, 1), got {drop_rate}')
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.drop_rate = float(drop_rate)
        self.temperature = float(temperature)
        self.complementary = bool(complementary)

    def forward(self, ctx: 'ForwardContext') -> Dict[str, Tensor]:
        """The step's ``joint`` against the ``joint`` of a random modality subset -> loss and accuracy."""
        backbone = ctx.backbone
        order = list(backbone.modalities)
        present = {m: ctx.present[m].bool() for m in order}
        subset = drop_modalities({m: {'present': present[m]} for m in order}, order, self.drop_rate)
        part_present = {m: subset[m]['present'] for m in order}
        part = backbone.neck.of_subset(ctx, part_present)
        if not self.complementary:
            full = backbone.neck.of_subset(ctx)
            return self.compute(full, part, torch.stack([present[m] for m in order], dim=1).any(dim=1))
        rest = {m: present[m] & ~part_present[m] for m in order}
        valid = torch.stack([rest[m] for m in order], dim=1).any(dim=1)   # the kept side always has one
        return self.compute(backbone.neck.of_subset(ctx, rest), part, valid)

    def compute(self, full: Tensor, part: Tensor, valid: Tensor) -> Dict[str, Tensor]:
        """Symmetric InfoNCE of (B, D) ``full`` and ``part`` over the (B,) ``valid`` rows."""
        rows = valid.nonzero().squeeze(1)
        if rows.numel() < 2:
            zero = full.new_zeros((), dtype=torch.float32)
            return {f'loss_{self.name}': zero, f'acc_{self.name}': zero}
        a = F.normalize(full[rows].float(), dim=-1)
        b = F.normalize(part[rows].float(), dim=-1)
        logits = a @ b.t() / self.temperature
        targets = torch.arange(rows.numel(), device=logits.device)
        loss = 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))
        hits = (logits.argmax(dim=1) == targets).float().mean() + (logits.argmax(dim=0) == targets).float().mean()
        acc = 0.5 * hits
        return {f'loss_{self.name}': self.loss_weight * loss, f'acc_{self.name}': acc.detach()}
