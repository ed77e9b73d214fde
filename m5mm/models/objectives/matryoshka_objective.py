"""Matryoshka subset consistency: the subset-consistency objective on nested prefixes of ``joint``."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from torch import Tensor

from m5mm.registry import OBJECTIVES
from .matryoshka import check_dims, matryoshka_info_nce
from .subset_consistency_objective import SubsetConsistencyObjective


@OBJECTIVES.register_module()
class MatryoshkaObjective(SubsetConsistencyObjective):
    """:class:`SubsetConsistencyObjective` (the ``joint`` vector of a product against the ``joint`` of a
    random subset of its modalities) computed on each nested prefix of ``joint`` at once: the loss is the
    weighted mean over ``dims`` of the InfoNCE of the renormalised first-d coordinates
    (:func:`~m5mm.models.objectives.matryoshka.matryoshka_info_nce`). A model trained with it can store
    and search its product vectors cut to any of ``dims``; with ``dims=(D,)`` (D the joint width) it
    is the subset-consistency objective.

    Args:
        dims: strictly increasing prefix sizes; the largest must not exceed the joint width (checked at
            the first step). None: (32, 64, 128, 256) cut to the joint width, plus the width itself.
        weights: one per dim (default equal).
        drop_rate, temperature, loss_weight: as :class:`SubsetConsistencyObjective`.
        name: key suffix of the outputs: ``loss_{name}``, ``acc_{name}`` (largest prefix) and
            ``acc_{name}_{d}`` for the others.

    Build-time facts: none (``needs = ()``, as its parent); it reads ``ctx.present``, ``ctx.encoded`` and
    ``ctx.fused`` and runs the fusion once more, so it is not a batch-wide objective.
    """

    needs = ()

    def __init__(self, *, dims: Optional[Sequence[int]] = None, weights: Optional[Sequence[float]] = None,
                 drop_rate: float = 0.5, temperature: float = 0.07, loss_weight: float = 1.0,
                 name: str = 'mrl') -> None:
        super().__init__(drop_rate=drop_rate, temperature=temperature, loss_weight=loss_weight, name=name)
        self.dims = None if dims is None else check_dims(dims)
        self.weights = None if weights is None else tuple(float(w) for w in weights)

    def dims_for(self, width: int) -> tuple:
        """The prefix sizes for a joint vector of ``width``."""
        if self.dims is not None:
            return self.dims
        return tuple(d for d in (32, 64, 128, 256) if d < width) + (width,)

    def compute(self, full: Tensor, part: Tensor, valid: Tensor) -> Dict[str, Tensor]:
        """The Matryoshka InfoNCE of (B, D) ``full`` and ``part`` over the (B,) ``valid`` rows."""
        dims = self.dims_for(full.shape[1])
        rows = valid.nonzero().squeeze(1)
        if rows.numel() < 2:      # nothing to learn: a plain 0 (the model ties the parameters no loss reached)
            zero = full.new_zeros((), dtype=torch.float32)
            return {f'loss_{self.name}': zero, f'acc_{self.name}': zero.detach(),
                    **{f'acc_{self.name}_{d}': zero.detach() for d in dims[:-1]}}
        loss, accs = matryoshka_info_nce(full[rows], part[rows], dims=dims, temperature=self.temperature,
                                         weights=self.weights)
        out = {f'loss_{self.name}': self.loss_weight * loss, f'acc_{self.name}': accs[dims[-1]].detach()}
        out.update({f'acc_{self.name}_{d}': accs[d].detach() for d in dims[:-1]})
        return out
