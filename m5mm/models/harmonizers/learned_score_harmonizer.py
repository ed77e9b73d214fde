"""A learned modality-pair score matrix weighting the loss terms (the paper's formulation)."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn

from m5mm.registry import HARMONIZERS
from .base_harmonizer import BaseHarmonizer, pair_mask


@HARMONIZERS.register_module()
class LearnedScoreHarmonizer(BaseHarmonizer):
    """Learned importance of every loss term: a parameter ``S`` (M x M, init 0) [paper].

    The paper weights the total loss as ``sum_{i<j} S'_ij L_con(i, j) + sum_i S'_ii L_mask(i)``
    with ``S' = S * softmax(S)``. Taken literally, ``S = 0`` makes every weight 0 (no loss at
    all) and the weights are unbounded below, so minimising the loss drives them negative.
    m5mm uses a normalised variant [design]: for sample b with present terms
    ``T_b = {(i, j): i <= j, both present}``,

        ``W_b[i, j] = |T_b| * softmax_{(k, l) in T_b}(S_sym[k, l])[i, j]``

    with ``S_sym`` the upper triangle of ``S`` mirrored (a pair has one score). At init every
    weight is 1 (the uniform ablation); weights stay positive and average 1 over a sample's
    terms, so the harmonizer only moves weight between terms and the loss scale stays fixed.
    Note the gradient of the weighted loss moves weight towards the terms with lower loss.

    Args:
        modalities: every modality of the model, fixing the rows/columns of ``S``.
    """

    def __init__(self, *, modalities: Optional[Sequence[str]] = None) -> None:
        super().__init__(modalities=modalities)
        if not self.modalities:
            raise ValueError('LearnedScoreHarmonizer needs `modalities` (the pretrainer passes them)')
        size = len(self.modalities)
        self.scores = nn.Parameter(torch.zeros(size, size))

    def symmetric_scores(self, order: Sequence[str]) -> Tensor:
        """The (M, M) symmetric score matrix for modalities in ``order``."""
        unknown = [m for m in order if m not in self.modalities]
        if unknown:
            raise KeyError(f'LearnedScoreHarmonizer was built for {self.modalities}, got unknown {unknown}')
        idx = torch.tensor([self.modalities.index(m) for m in order], device=self.scores.device)
        rows, cols = torch.meshgrid(idx, idx, indexing='ij')
        lo, hi = torch.minimum(rows, cols), torch.maximum(rows, cols)
        return self.scores[lo, hi]

    def compute_weights(self, embeddings: Dict[str, Tensor], present: Tensor, order: List[str]) -> Tensor:
        """present (B, M) -> (B, M, M) symmetric weights; the embeddings are not used."""
        scores = self.symmetric_scores(order).float()
        size = len(order)
        upper = torch.ones(size, size, dtype=torch.bool, device=scores.device).triu()
        terms = pair_mask(present) & upper                              # (B, M, M)
        logits = scores.expand_as(terms).masked_fill(~terms, torch.finfo(scores.dtype).min)
        soft = logits.flatten(1).softmax(dim=-1).view_as(terms) * terms
        n_terms = terms.flatten(1).sum(dim=-1).to(soft.dtype)[:, None, None]
        upper_w = soft * n_terms
        return upper_w + upper_w.triu(diagonal=1).transpose(1, 2)
