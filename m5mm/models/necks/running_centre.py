"""A running mean of each modality's fused vectors, removed before they are averaged into ``joint``
(:class:`~m5mm.models.necks.CentredJointNeck`)."""
from __future__ import annotations

from typing import Dict, Mapping, Sequence

import torch
from torch import Tensor, nn


class RunningCentre(nn.Module):
    """Per-modality exponential moving average of the fused vectors of the samples that have the
    modality, updated by :meth:`update` in training (the first update takes the batch mean).
    Subtracting it removes the component every product shares (a collapsed tower's constant output),
    which otherwise dominates the mean of the fused vectors.

    Args:
        modalities: the modalities, in order.
        dim: the fused vectors' width.
        momentum: weight of the old mean in each update.

    Buffers (saved with the model): ``mean`` (M, D) and ``seen`` (M,) (updates so far).
    """

    def __init__(self, *, modalities: Sequence[str], dim: int, momentum: float = 0.99) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {momentum}')
        self.modalities = list(modalities)
        self.momentum = momentum
        self.register_buffer('mean', torch.zeros(len(self.modalities), dim))
        self.register_buffer('seen', torch.zeros(len(self.modalities)))

    @torch.no_grad()
    def update(self, fused: Mapping[str, Tensor], present: Mapping[str, Tensor]) -> None:
        """Fold the batch means of {m: (B, D)} over the samples that have m into the running means."""
        for k, m in enumerate(self.modalities):
            rows = fused[m][present[m].bool()]
            if rows.shape[0] == 0:
                continue
            batch_mean = rows.detach().float().mean(dim=0)
            keep = self.momentum if self.seen[k] > 0 else 0.0
            self.mean[k] = keep * self.mean[k] + (1.0 - keep) * batch_mean
            self.seen[k] += 1

    def forward(self, fused: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """{m: (B, D)} -> {m: (B, D)} with modality m's running mean subtracted."""
        return {m: fused[m] - self.mean[k].to(fused[m].dtype) for k, m in enumerate(self.modalities)}
