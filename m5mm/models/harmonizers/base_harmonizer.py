"""Shared plumbing of the modality-importance harmonizers."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn

from m5mm.structures import HarmonizerOutput


def stack_present(present: Dict[str, Tensor], order: Sequence[str]) -> Tensor:
    """{m: (B,) bool} -> (B, M) bool in ``order``."""
    missing = [m for m in order if m not in present]
    if missing:
        raise KeyError(f'harmonizer: no presence mask for modalities {missing}; got {list(present)}')
    return torch.stack([present[m].bool() for m in order], dim=1)


def pair_mask(present: Tensor) -> Tensor:
    """(B, M) bool -> (B, M, M) bool, True where both modalities of a pair are present."""
    return present[:, :, None] & present[:, None, :]


class BaseHarmonizer(nn.Module):
    """A harmonizer maps per-modality embeddings to per-sample modality-pair weights.

    ``harmonizer(embeddings, present) -> HarmonizerOutput(weights (B, M, M), importance)`` with
    modalities in the order of ``embeddings``. Rows and columns of a sample's absent modalities are 0 and absent
    modalities never enter a normalisation. Off-diagonal ``W[b, i, j]`` weights the
    contrastive term of pair (i, j) with sample b as query; ``W[b, i, i]`` weights modality
    i's masked-modelling task.

    The buffer ``uniform_share`` (a scalar, 0 by default, not saved) blends uniform weights in:
    ``(1 - s) W + s`` on the present pairs. :class:`~m5mm.engine.hooks.HarmonizerWarmupHook` lowers it
    from 1 to 0 over the start of training, for towers whose embeddings start unrelated across
    modalities (pretrained towers, new projection heads), where the formula's weights are noise.

    Args:
        modalities: every modality the model knows (needed by harmonizers with parameters;
            others accept it for a uniform config interface).
    """

    def __init__(self, *, modalities: Optional[Sequence[str]] = None) -> None:
        super().__init__()
        self.modalities: List[str] = list(modalities) if modalities is not None else []
        # set during training by HarmonizerWarmupHook; a tensor so that a compiled model reads it without
        # recompiling; not saved (a model folder's weights are the formula's)
        self.register_buffer('uniform_share', torch.zeros(()), persistent=False)

    def forward(self, embeddings: Dict[str, Tensor], present: Dict[str, Tensor]) -> HarmonizerOutput:
        """embeddings: {m: (B, D)}, present: {m: (B,) bool} -> weights (B, M, M) and importance {m: ()}."""
        order = list(embeddings)
        if not order:
            raise ValueError(f'{type(self).__name__}: got no modality embeddings')
        present_bm = stack_present(present, order).to(next(iter(embeddings.values())).device)
        pairs = pair_mask(present_bm)
        weights = self.compute_weights(embeddings, present_bm, order)
        weights = weights * pairs.to(weights.dtype)
        # (1 - s) W + s 1[pair present]: exactly W at s = 0
        weights = torch.lerp(weights, pairs.to(weights.dtype), self.uniform_share.to(weights.dtype))
        return HarmonizerOutput(weights=weights, importance=self.importance(weights, present_bm, order))

    def compute_weights(self, embeddings: Dict[str, Tensor], present: Tensor, order: List[str]) -> Tensor:
        """The harmonizer's formula: (B, M, M) weights; masked to present pairs afterwards."""
        raise NotImplementedError

    @staticmethod
    def sample_importance(weights: Tensor, present: Tensor) -> Tensor:
        """(B, M, M) weights, (B, M) presence -> (B, M): the mean weight ``W[b, i, m]`` over the
        present rows i of sample b (0 where sample b has no modality)."""
        weights = weights.float()
        present = present.float()
        n_rows = present.sum(dim=1, keepdim=True).clamp_min(1.0)        # (B, 1)
        return (weights * present[:, :, None]).sum(dim=1) / n_rows

    @staticmethod
    def importance(weights: Tensor, present: Tensor, order: Sequence[str]) -> Dict[str, Tensor]:
        """Per-modality importance for logging: {m: scalar tensor (detached)}.

        The importance of m is the mean weight the present modalities give to m
        (``W[b, :, m]`` averaged over present rows), averaged over samples that have m;
        0 when no sample has m.
        """
        column_mean = BaseHarmonizer.sample_importance(weights.detach(), present)  # (B, M)
        present = present.float()
        n_samples = present.sum(dim=0)                                    # (M,)
        per_modality = (column_mean * present).sum(dim=0) / n_samples.clamp_min(1.0)
        return {m: per_modality[k] for k, m in enumerate(order)}
