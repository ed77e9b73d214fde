"""Alignment: a product's modalities pulled to one direction in the contrastive space."""
from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor

from m5mm.registry import OBJECTIVES
from .base_objective import BaseObjective

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext


@OBJECTIVES.register_module()
class ModalityAlignmentObjective(BaseObjective):
    """``loss = mean over (b, i < j) of 1 - cos(z_i[b], z_j[b])`` over the samples b that have both
    modalities of a pair (i, j): the alignment term of Wang & Isola's alignment / uniformity view of
    contrastive learning, across modalities.

    InfoNCE stops pulling a product's title and photo together once the pair outranks the batch's
    other products, so each modality stays in its own cone (the "modality gap"); a product vector
    formed from the present modalities (:class:`~m5mm.models.necks.AlignedJointNeck`) then moves
    with the presence pattern. This term keeps pulling; the contrastive objective keeps products
    apart (use it beside one, never alone: alone it is minimised by a constant). Per-sample, so it
    needs no batch-wide negatives; ``count_<name>`` is the number of (sample, pair) terms.

    Args:
        pairs: restrict to these modality pairs (default: all pairs of the model's modalities).
        unmasked: align the embeddings of the unmasked pass (default: the masked pass's, as the
            contrastive objective).
        loss_weight: factor of ``loss_{name}``.
        name: key suffix of the outputs (``loss_align``, ``align_<i>_<j>``).
    """

    min_modalities = 2
    needs = ()

    def __init__(self, *, pairs: Optional[Sequence[Sequence[str]]] = None, unmasked: bool = False,
                 loss_weight: float = 1.0, name: str = 'align') -> None:
        super().__init__(name=name, loss_weight=loss_weight)
        self.pairs = [tuple(p) for p in pairs] if pairs is not None else None
        self.modalities = tuple(dict.fromkeys(m for pair in self.pairs or () for m in pair))
        self.unmasked = bool(unmasked)

    @classmethod
    def required_modalities(cls, cfg: Mapping[str, Any]) -> Tuple[str, ...]:
        """The modalities named in ``pairs`` (none without pairs: it takes the model's)."""
        return tuple(dict.fromkeys(m for pair in cfg.get('pairs') or () for m in pair))

    def forward(self, ctx: 'ForwardContext') -> Dict[str, Tensor]:
        embeddings = ctx.clean_embeddings if self.unmasked else ctx.embeddings
        return self.compute(embeddings, ctx.present)

    def compute(self, embeddings: Mapping[str, Tensor], present: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """{m: (B, D)} embeddings, {m: (B,)} presence -> ``loss_{name}``, ``count_{name}``, pair means."""
        order = list(embeddings)
        pairs = list(combinations(order, 2)) if self.pairs is None else self.pairs
        unknown = sorted({m for pair in pairs for m in pair} - set(order))
        if unknown:
            raise KeyError(f'{type(self).__name__}: pairs name modalities {unknown} not among {order}')
        units = {m: F.normalize(embeddings[m].float(), dim=-1) for m in order}
        total = next(iter(units.values())).new_zeros(())
        count = 0
        out: Dict[str, Tensor] = {}
        for i, j in pairs:
            both = present[i].bool() & present[j].bool()
            distance = (1.0 - (units[i] * units[j]).sum(dim=-1))[both]
            total = total + distance.sum()
            count += int(both.sum())
            if distance.numel():
                out[f'{self.name}_{i}_{j}'] = distance.mean().detach()
        loss = total / max(count, 1)
        return {f'loss_{self.name}': self.loss_weight * loss, f'count_{self.name}': count, **out}
