"""Projection that starts as a fixed orthogonal map of its input and learns a residual."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m5mm.registry import HEADS


@HEADS.register_module()
class ResidualProjectionHead(nn.Module):
    """``y = x Q^T + r(x)``: a fixed orthogonal map ``Q`` plus a learned residual ``r`` whose last
    ``Linear`` starts at zero.

    At initialisation the head is exactly ``x Q^T``: an orthogonal ``Q`` (``in_dim == out_dim``) keeps
    every cosine of the input, a semi-orthogonal one (``out_dim < in_dim``: orthonormal rows, a random
    ``out_dim``-dim subspace) keeps them approximately, so training starts from the input's geometry
    (e.g. a frozen pretrained tower's) and contrastive learning only adds the alignment; weight decay
    pulls the residual, not the map, towards zero. ``Q`` is a buffer (saved with the weights, never
    trained), drawn from a generator seeded with ``map_seed``: heads of one input and output width get the
    same ``Q``, so two modalities read from one tower (title and table from one text model, image and
    video frames from one image model) start in one space.

    Args:
        in_dim: input width.
        out_dim: output width.
        hidden_dim: width of a hidden layer of the residual (None: a single ``Linear``).
        normalize: L2-normalise the output.
        residual_scale: factor of the residual, ``y = x Q^T + residual_scale * r(x)``: with an Adam-type
            optimizer (steps of about the learning rate whatever the gradient's size) it sets how fast the
            head moves away from ``Q``, as a learning rate of ``lr * residual_scale`` for this head alone would.
        map_seed: seed of ``Q``.
        activation: only ``None`` / ``'none'`` (the map stays linear so that it starts exactly at ``Q``;
            accepted so that a config can switch a :class:`ProjectionHead` by its ``type``).
    """

    def __init__(self, *, in_dim: int, out_dim: int, hidden_dim: Optional[int] = None,
                 normalize: bool = False, residual_scale: float = 1.0, map_seed: int = 0,
                 activation: Optional[str] = None) -> None:
        super().__init__()
        if activation not in (None, 'none'):
            raise ValueError(f'{type(self).__name__} has no output activation (it starts as a linear map that '
                             f'keeps its input\'s cosines); got activation={activation!r}')
        generator = torch.Generator().manual_seed(int(map_seed))
        self.register_buffer('fixed', nn.init.orthogonal_(torch.empty(out_dim, in_dim), generator=generator))
        layers = [nn.Linear(in_dim, out_dim)] if hidden_dim is None else \
            [nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim)]
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
        self.residual = nn.Sequential(*layers)
        if residual_scale <= 0:
            raise ValueError(f'residual_scale must be > 0, got {residual_scale}')
        self.residual_scale = float(residual_scale)
        self.out_dim = out_dim
        self.normalize = normalize

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., in_dim) -> (..., out_dim)."""
        y = F.linear(x, self.fixed.to(x.dtype)) + self.residual_scale * self.residual(x)
        return F.normalize(y, dim=-1) if self.normalize else y
