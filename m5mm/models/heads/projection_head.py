"""Projection of embeddings into a (contrastive) space."""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

from m5mm.registry import HEADS

ACTIVATIONS = {'relu': nn.ReLU, 'gelu': nn.GELU, 'none': nn.Identity}


@HEADS.register_module()
class ProjectionHead(nn.Module):
    """``Linear`` (or ``Linear -> act -> Linear`` with ``hidden_dim``) then an optional activation.

    The authors' contrastive projection is ``ProjectionHead(in_dim=768, out_dim=1024,
    activation='relu')``.

    Args:
        in_dim: input width.
        out_dim: output width.
        hidden_dim: width of a hidden layer (None: a single Linear).
        activation: 'relu', 'gelu' or 'none', applied after the (last) Linear.
        normalize: L2-normalise the output.
    """

    def __init__(self, *, in_dim: int, out_dim: int, hidden_dim: Optional[int] = None,
                 activation: str = 'none', normalize: bool = False) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f'activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}')
        layers = [nn.Linear(in_dim, out_dim)] if hidden_dim is None else \
            [nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim)]
        self.net = nn.Sequential(*layers, ACTIVATIONS[activation]())
        self.out_dim = out_dim
        self.normalize = normalize

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., in_dim) -> (..., out_dim)."""
        x = self.net(x)
        return F.normalize(x, dim=-1) if self.normalize else x
