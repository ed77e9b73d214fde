"""The Matryoshka loss: a contrastive loss on nested prefixes of a vector, so that its first d dimensions
(renormalised) are a usable vector of their own (Kusupati et al., "Matryoshka Representation Learning",
NeurIPS 2022)."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def check_dims(dims: Sequence[int]) -> Tuple[int, ...]:
    """``dims`` as a strictly increasing tuple of positive ints (ValueError otherwise)."""
    dims = tuple(int(d) for d in dims)
    if not dims or any(d <= 0 for d in dims) or any(b <= a for a, b in zip(dims, dims[1:])):
        raise ValueError(f'dims must be strictly increasing positive sizes, got {list(dims)}')
    return dims


def prefix(vectors: Tensor, dim: int) -> Tensor:
    """(N, D) -> (N, dim): the first ``dim`` coordinates, L2-normalised (the vector a prefix index stores)."""
    return F.normalize(vectors[:, :dim].float(), dim=-1)


def symmetric_info_nce(a: Tensor, b: Tensor, temperature: float) -> Tuple[Tensor, Tensor]:
    """Symmetric InfoNCE of unit rows (N, D) ``a`` and ``b`` (row i of each is a positive pair) ->
    (loss, accuracy), each the mean of both directions."""
    logits = a @ b.t() / temperature
    targets = torch.arange(a.shape[0], device=a.device)
    loss = 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))
    acc = 0.5 * ((logits.argmax(dim=1) == targets).float().mean() + (logits.argmax(dim=0) == targets).float().mean())
    return loss, acc


def matryoshka_info_nce(full: Tensor, part: Tensor, *, dims: Sequence[int], temperature: float,
                        weights: Optional[Sequence[float]] = None) -> Tuple[Tensor, Dict[int, Tensor]]:
    """The weighted mean over ``dims`` of the symmetric InfoNCE of the renormalised d-prefixes of two views.

    Args:
        full, part: (N, D) two views of N items (row i of each is a positive pair); D >= max(dims).
        dims: strictly increasing prefix sizes (e.g. 32, 64, 128, 256).
        temperature: softmax temperature.
        weights: one per dim (default all 1); the loss is ``sum_d w_d L_d / sum_d w_d``.

    Returns:
        (loss, {d: accuracy at prefix d}). With ``dims=(D,)`` it is the plain InfoNCE of the whole vectors.
    """
    dims = check_dims(dims)
    if dims[-1] > full.shape[1]:
        raise ValueError(f'prefix size {dims[-1]} is larger than the vectors ({full.shape[1]})')
    weights = [1.0] * len(dims) if weights is None else [float(w) for w in weights]
    if len(weights) != len(dims) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f'weights must be {len(dims)} non-negative numbers with a positive sum, got {weights}')
    total, accs = 0.0, {}
    for d, w in zip(dims, weights):
        loss, accs[d] = symmetric_info_nce(prefix(full, d), prefix(part, d), temperature)
        total = total + w * loss
    return total / sum(weights), accs
