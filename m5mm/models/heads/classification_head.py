"""Product classification from the fused per-modality features (the paper's fine-tuning head)."""
from __future__ import annotations

from typing import Dict, Sequence

import torch
from torch import Tensor, nn

from m5mm.registry import HEADS

ABSENT_MODES = ('zero_indicator', 'masked_mean')


@HEADS.register_module()
class ClassificationHead(nn.Module):
    """``Linear -> ReLU -> dropout -> Linear`` over the fused first-token vectors [paper].

    ``absent_mode='zero_indicator'`` (default): concatenate every modality's fused vector
    (zeroed where absent) plus the M present flags -> ``Linear(M*D + M -> hidden)``; this is
    the paper's concatenation with an explicit signal for missing modalities.
    ``'masked_mean'``: average the present modalities' vectors -> ``Linear(D -> hidden)``
    (independent of the number of modalities).

    Args:
        in_dim: width D of each fused vector.
        modalities: the modalities, in concatenation order.
        num_classes: number of classes.
        hidden_dim: hidden width (1024 in the paper).
        dropout: dropout before the last Linear (0.1 in the paper).
        absent_mode: 'zero_indicator' or 'masked_mean'.
    """

    def __init__(self, *, in_dim: int, modalities: Sequence[str], num_classes: int, hidden_dim: int = 1024,
                 dropout: float = 0.1, absent_mode: str = 'zero_indicator') -> None:
        super().__init__()
        if absent_mode not in ABSENT_MODES:
            raise ValueError(f'absent_mode must be one of {ABSENT_MODES}, got {absent_mode!r}')
        if num_classes < 1 or not modalities:
            raise ValueError(f'ClassificationHead needs num_classes >= 1 and modalities, got {num_classes}, '
                             f'{list(modalities)}')
        self.modalities = list(modalities)
        self.absent_mode = absent_mode
        width = in_dim if absent_mode == 'masked_mean' else len(self.modalities) * (in_dim + 1)
        self.net = nn.Sequential(nn.Linear(width, hidden_dim), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden_dim, num_classes))

    def features(self, fused: Dict[str, Tensor], present: Dict[str, Tensor]) -> Tensor:
        """fused {m: (B, D)}, present {m: (B,)} -> (B, width) input of the MLP."""
        missing = [m for m in self.modalities if m not in fused or m not in present]
        if missing:
            raise KeyError(f'ClassificationHead: no fused feature / presence for {missing}')
        feats = torch.stack([fused[m] for m in self.modalities], dim=1)            # (B, M, D)
        flags = torch.stack([present[m].bool() for m in self.modalities], dim=1)   # (B, M)
        feats = torch.where(flags[..., None], feats, torch.zeros_like(feats))
        weights = flags.to(feats.dtype)
        if self.absent_mode == 'masked_mean':
            return feats.sum(1) / weights.sum(1, keepdim=True).clamp_min(1.0)
        return torch.cat([feats.flatten(1), weights], dim=1)

    def forward(self, fused: Dict[str, Tensor], present: Dict[str, Tensor]) -> Tensor:
        """-> (B, num_classes) logits."""
        x = self.features(fused, present)
        return self.net(x.to(self.net[0].weight.dtype))
