"""Per-sample modality weights from the cosine graph of the embeddings (authors' code)."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from m5mm.registry import HARMONIZERS
from .base_harmonizer import BaseHarmonizer, pair_mask


@HARMONIZERS.register_module()
class CosineGraphHarmonizer(BaseHarmonizer):
    """Self-harmonized weights from the embeddings' cosine similarity graph [code].

    For each sample b, over its present modalities only:
    ``C_b = cos(e_i, e_j)`` (M x M), ``R_b = C_b * softmax_row(C_b)`` (elementwise, no
    temperature), ``W_b = R_b`` with every row L2-normalised. Entries of absent modalities
    are 0 and take no part in the softmax or the normalisation. ``W_b`` is not symmetric:
    ``W_b[i, j]`` is the weight of pair (i, j) with modality i as the query side.

    A negative cosine gives a negative weight, which (with ``weight_mode='logits'``) flips the
    sign of a contrastive pair's logits: the pair is then trained to push its positive apart.
    ``nonnegative=True`` [design, a deviation from the authors' code] uses ``max(C_b, 0)`` in
    place of ``C_b`` as the factor (the softmax still sees ``C_b``), so no weight is negative.

    Args:
        modalities: accepted for a uniform config interface (unused).
        detach: compute the weights from detached embeddings (no gradient through them).
        eps: floor of the norms.
        nonnegative: clamp the cosine factor at 0 (weights >= 0).
    """

    def __init__(self, *, modalities: Optional[Sequence[str]] = None, detach: bool = False,
                 eps: float = 1e-8, nonnegative: bool = False) -> None:
        super().__init__(modalities=modalities)
        self.detach = detach
        self.eps = eps
        self.nonnegative = nonnegative

    def compute_weights(self, embeddings: Dict[str, Tensor], present: Tensor, order: List[str]) -> Tensor:
        """embeddings {m: (B, D)}, present (B, M) -> (B, M, M)."""
        dims = {m: int(embeddings[m].shape[-1]) for m in order}   # ints: traced shapes are tensors
        if len(set(dims.values())) > 1:
            raise ValueError(f'CosineGraphHarmonizer needs embeddings of one width, got {dims}; '
                             f'project them to a common width first')
        emb = torch.stack([embeddings[m] for m in order], dim=1).float()  # (B, M, D)
        if self.detach:
            emb = emb.detach()
        emb = F.normalize(emb, dim=-1, eps=self.eps)
        cos = emb @ emb.transpose(1, 2)                                 # (B, M, M)
        pairs = pair_mask(present)
        attn = cos.masked_fill(~pairs, torch.finfo(cos.dtype).min).softmax(dim=-1)
        factor = cos.clamp_min(0.0) if self.nonnegative else cos
        related = factor * attn * pairs.to(cos.dtype)
        return F.normalize(related, dim=-1, eps=self.eps)
