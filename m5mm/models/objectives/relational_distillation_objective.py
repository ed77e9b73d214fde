"""Relational distillation: each modality's projected embeddings keep its tower's in-batch similarities."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from m5mm.registry import OBJECTIVES
from m5mm.utils.distributed import all_gather_tensor, gather_with_grad
from .base_objective import BaseObjective
from .gathered_rows import present_rows

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext


def similarity_matrix(x: Tensor) -> Tensor:
    """(n, D) -> (n, n) cosine similarities of the rows after subtracting their mean."""
    unit = F.normalize(x - x.mean(dim=0, keepdim=True), dim=-1)
    return unit @ unit.T


def relational_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean squared difference of the off-diagonal entries of the two rows' :func:`similarity_matrix`
    (``teacher`` is detached); needs n >= 2 rows."""
    n = student.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=student.device)
    diff = similarity_matrix(student.float()) - similarity_matrix(teacher.detach().float())
    return diff[off].pow(2).mean()


@OBJECTIVES.register_module()
class RelationalDistillationObjective(BaseObjective):
    """Keeps each modality's neighbourhoods: within a batch, the cosine-similarity matrix of a
    modality's projected embeddings (the contrastive space, ``clean_embeddings``) is pulled towards
    that of the vectors its projection head reads (the tower's ``pooled``, detached): the frozen
    tower's own feature for a tower with ``pooled_source='backbone'``.

    For each modality with at least 2 present samples, rows centred by their batch mean,
    ``loss_m = mean_{b != c} (cos(z_b, z_c) - cos(f_b, f_c))^2``; ``loss_<name>`` is the mean over those
    modalities times ``loss_weight`` (a plain 0 when none has 2 samples). Contrastive training alone
    keeps of a tower only what the other modalities predict of it (on few steps, half of what a frozen
    image tower knows of a picture, docs/benchmark.md); this term keeps the rest.

    Across processes the embeddings (with their gradient) and the tower vectors are gathered and
    every rank computes the loss of the whole batch, so a multi-process run equals one process on
    the concatenated batch (2-process test). Under contrastive accumulation it is computed on each
    micro-batch (its teacher, the towers' pooled vectors, is not among the cached batch-wide fields).

    Args:
        modalities: the modalities it applies to (default: all of the model's).
        loss_weight: factor of ``loss_{name}``.
        name: key suffix of the outputs (``loss_rkd``, ``rkd_<modality>``).
    """

    needs = ()

    def __init__(self, *, modalities: Optional[Sequence[str]] = None, loss_weight: float = 1.0,
                 name: str = 'rkd') -> None:
        super().__init__(name=name, loss_weight=loss_weight)
        self.only = tuple(modalities) if modalities else None

    @classmethod
    def required_modalities(cls, cfg) -> tuple:
        return tuple(cfg.get('modalities') or ())

    def forward(self, ctx: 'ForwardContext') -> Dict[str, Tensor]:
        """The step's projected embeddings against their heads' inputs -> ``loss_<name>`` and per-modality terms."""
        embeddings, encoded = ctx.clean_embeddings, ctx.clean_encoded
        out, terms = {}, []
        first = embeddings[ctx.backbone.modalities[0]]
        for m, rows, sizes in present_rows(ctx, self.only):   # every rank: the whole (gathered) batch's loss
            student = gather_with_grad(embeddings[m], sizes)[rows]
            teacher = all_gather_tensor(encoded[m].pooled.detach(), sizes)[rows]
            term = relational_loss(student, teacher)
            out[f'{self.name}_{m}'] = term.detach()
            terms.append(term)
        loss = torch.stack(terms).mean() if terms else first.sum() * 0.0
        out[f'loss_{self.name}'] = self.loss_weight * loss
        return out
