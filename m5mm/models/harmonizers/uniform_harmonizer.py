"""Equal weights for every present modality pair: SCALE's ablation without harmonisation."""
from __future__ import annotations

from typing import Dict, List

from torch import Tensor

from m5mm.registry import HARMONIZERS
from .base_harmonizer import BaseHarmonizer, pair_mask


@HARMONIZERS.register_module()
class UniformHarmonizer(BaseHarmonizer):
    """``W[b, i, j] = 1`` when sample b has both modalities i and j, else 0.

    Args:
        modalities: accepted for a uniform config interface (unused).
    """

    def compute_weights(self, embeddings: Dict[str, Tensor], present: Tensor, order: List[str]) -> Tensor:
        """embeddings {m: (B, D)}, present (B, M) -> (B, M, M) of 0/1."""
        return pair_mask(present).float()
