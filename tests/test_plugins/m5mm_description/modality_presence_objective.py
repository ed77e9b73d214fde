"""A new objective in one registered class: predict which modalities a product has from its joint vector."""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m5mm.models.objectives import BaseObjective
from m5mm.registry import OBJECTIVES


@OBJECTIVES.register_module()
class ModalityPresenceObjective(BaseObjective):
    """Binary cross-entropy of every modality's ``present`` flag from the fusion's ``joint`` (B, D)
    through ``Linear(D -> M)``: ``loss_<name>``, ``acc_<name>``.

    Args:
        backbone: the model's backbone (its fusion width and modalities size the head).
        name: key suffix of the outputs.
    """

    min_modalities = 2

    def __init__(self, *, backbone, loss_weight: float = 1.0, name: str = 'presence') -> None:
        super().__init__(name=name, loss_weight=loss_weight)
        self.order = list(backbone.modalities)
        self.head = nn.Linear(backbone.fused_dim(type(self).__name__), len(self.order))

    def forward(self, ctx) -> Dict[str, Tensor]:
        """ctx.fused.joint (B, D), ctx.present {m: (B,)} -> loss and accuracy."""
        logits = self.head(ctx.fused.joint.to(self.head.weight.dtype)).float()      # (B, M)
        target = torch.stack([ctx.present[m] for m in self.order], dim=1).float()
        loss = F.binary_cross_entropy_with_logits(logits, target)
        acc = ((logits.detach() > 0).float() == target).float().mean()
        return {f'loss_{self.name}': loss * self.loss_weight, f'acc_{self.name}': acc}
