"""Prediction of continuous target features from fused tokens."""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from m5mm.registry import HEADS


@HEADS.register_module()
class FeatureRegressionHead(nn.Module):
    """``Linear(dim -> hidden) -> GELU -> LayerNorm -> Linear(hidden -> out_dim)``.

    Args:
        dim: width of the fused tokens.
        out_dim: width F of the regression targets.
        hidden_dim: hidden width (default ``dim``).
    """

    def __init__(self, *, dim: int, out_dim: int, hidden_dim: Optional[int] = None) -> None:
        super().__init__()
        hidden_dim = hidden_dim or dim
        self.net = nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(), nn.LayerNorm(hidden_dim),
                                 nn.Linear(hidden_dim, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., dim) -> (..., out_dim)."""
        return self.net(x.to(self.net[0].weight.dtype))
