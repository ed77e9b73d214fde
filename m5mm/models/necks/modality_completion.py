"""Linear prediction of an absent modality's vector from the present ones, fitted from running moments."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


class ModalityCompletion(nn.Module):
    """Ridge regressions ``x_j ~ W[i, j] x_i`` between every ordered pair of modalities (i != j),
    fitted in closed form from exponential moving averages of the second moments over the training
    samples that have both, and used to fill in the modalities a product lacks.

    :meth:`update` (training) folds a batch's moments ``E[x_i x_i^T]`` and ``E[x_j x_i^T]`` into the
    running ones and refits ``W[i, j] = E[x_j x_i^T] (E[x_i x_i^T] + ridge I)^-1`` (D x D solves, no
    gradient); :meth:`forward` predicts each absent modality j of a sample as the mean over its
    present modalities i of ``W[i, j] x_i``. A prediction keeps the regression's shrinkage (a short
    vector where the pair says little), so a poorly predicted modality counts little in a mean.
    A pair never seen together has ``W = 0`` (predicts nothing).

    Args:
        modalities: the modalities, in order.
        dim: the vectors' width D.
        momentum: weight of the old moments in each update (the first update takes the batch's).
        ridge: the ridge penalty (on unit-scale vectors).

    Buffers (saved with the model): ``cross`` (M, M, D, D) ``E[x_j x_i^T]`` at ``[i, j]``, ``auto``
    (M, M, D, D) ``E[x_i x_i^T]`` over the samples that have i and j, ``seen`` (M, M) updates, and
    the fitted ``weight`` (M, M, D, D).
    """

    def __init__(self, *, modalities: Sequence[str], dim: int, momentum: float = 0.99, ridge: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {momentum}')
        if ridge <= 0:
            raise ValueError(f'ridge must be > 0, got {ridge}')
        self.modalities = list(modalities)
        self.momentum = momentum
        self.ridge = ridge
        m = len(self.modalities)
        for name in ('cross', 'auto', 'weight'):
            self.register_buffer(name, torch.zeros(m, m, dim, dim))
        self.register_buffer('seen', torch.zeros(m, m))

    @torch.no_grad()
    def update(self, units: Tensor, present: Tensor) -> None:
        """Fold the (B, M, D) vectors of the (B, M) present modalities into the moments; refit."""
        units, present = units.detach().float(), present.bool()
        eye = torch.eye(units.shape[-1], device=units.device)
        for i in range(len(self.modalities)):
            for j in range(len(self.modalities)):
                rows = present[:, i] & present[:, j]
                if i == j or not bool(rows.any()):
                    continue
                xi, xj = units[rows, i], units[rows, j]                       # (n, D)
                keep = self.momentum if self.seen[i, j] > 0 else 0.0
                self.cross[i, j] = keep * self.cross[i, j] + (1 - keep) * (xj.t() @ xi) / xi.shape[0]
                self.auto[i, j] = keep * self.auto[i, j] + (1 - keep) * (xi.t() @ xi) / xi.shape[0]
                self.seen[i, j] += 1
                # W (auto + ridge) = cross  <=>  (auto + ridge) W^T = cross^T (auto is symmetric)
                self.weight[i, j] = torch.linalg.solve(self.auto[i, j] + self.ridge * eye, self.cross[i, j].t()).t()

    def forward(self, units: Tensor, present: Tensor) -> Tensor:
        """(B, M, D) vectors (rows of absent modalities ignored), (B, M) presence -> (B, M, D) with each
        absent modality predicted from the present ones (present rows unchanged; 0 with none present)."""
        present = present.bool()
        source = units * present[..., None].to(units.dtype)                                # (B, M, D)
        predicted = torch.einsum('ijed,bid->bje', self.weight.to(units.dtype), source)     # sum over present i
        count = present.to(units.dtype).sum(dim=1)[:, None, None]                          # (B, 1, 1)
        predicted = predicted / count.clamp_min(1.0)
        return torch.where(present[..., None], units, predicted)
