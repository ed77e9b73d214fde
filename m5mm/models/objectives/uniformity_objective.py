"""Uniformity: each modality's embeddings spread over the sphere instead of gathering around one direction."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from m5mm.registry import OBJECTIVES
from m5mm.utils.distributed import gather_with_grad
from .base_objective import BaseObjective
from .gathered_rows import present_rows

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext


def uniformity_loss(z: Tensor, t: float = 2.0) -> Tensor:
    """``log mean_{b != c} exp(-t |z_b - z_c|^2)`` of the L2-normalised rows of ``z`` (n, D), n >= 2
    (Wang & Isola, 2020): lowest when the rows are spread evenly over the sphere."""
    unit = F.normalize(z.float(), dim=-1)
    squared = (2.0 - 2.0 * unit @ unit.T).clamp_min(0.0)
    off = ~torch.eye(unit.shape[0], dtype=torch.bool, device=unit.device)
    return torch.logsumexp(-t * squared[off], dim=0) - math.log(int(off.sum()))


@OBJECTIVES.register_module()
class UniformityObjective(BaseObjective):
    """Keeps each modality's projected embeddings (``clean_embeddings``, the contrastive space) apart.

    A pairwise contrastive loss (``SigmoidContrastiveObjective``) on frozen towers can let every
    embedding of a modality gather around one direction (mean pairwise cosine 0.6 -> 0.9 on the
    benchmark catalogues, docs/benchmark.md), and an image-only query then no longer tells products
    apart. This term, per modality with at least 2 present samples,
    ``loss_m = log mean_{b != c} exp(-t |z_b - z_c|^2)`` on the unit embeddings, pushes them apart;
    ``loss_<name>`` is the mean over those modalities times ``loss_weight``.

    Across processes the embeddings are gathered with their gradient and every rank computes the loss of
    the whole batch (a multi-process run equals one process on the concatenated batch). Under contrastive
    accumulation it is computed on each micro-batch.

    Args:
        modalities: the modalities it applies to (default: all of the model's).
        t: the kernel's sharpness (2 in Wang & Isola).
        loss_weight: factor of ``loss_{name}``.
        name: key suffix of the outputs (``loss_uniform``, ``uniform_<modality>``).
    """

    needs = ()

    def __init__(self, *, modalities: Optional[Sequence[str]] = None, t: float = 2.0, loss_weight: float = 1.0,
                 name: str = 'uniform') -> None:
        super().__init__(name=name, loss_weight=loss_weight)
        if t <= 0:
            raise ValueError(f'UniformityObjective: t must be > 0, got {t}')
        self.only = tuple(modalities) if modalities else None
        self.t = float(t)

    @classmethod
    def required_modalities(cls, cfg) -> tuple:
        return tuple(cfg.get('modalities') or ())

    def forward(self, ctx: 'ForwardContext') -> Dict[str, Tensor]:
        """The step's projected embeddings -> ``loss_<name>`` and the per-modality terms."""
        embeddings = ctx.clean_embeddings
        out, terms = {}, []
        for m, rows, sizes in present_rows(ctx, self.only):
            term = uniformity_loss(gather_with_grad(embeddings[m], sizes)[rows], self.t)
            out[f'{self.name}_{m}'] = term.detach()
            terms.append(term)
        first = embeddings[ctx.backbone.modalities[0]]
        loss = torch.stack(terms).mean() if terms else first.sum() * 0.0
        out[f'loss_{self.name}'] = self.loss_weight * loss
        return out
