"""The fusion's own ``joint`` (the mean of the present modalities' fused vectors for SCALE)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from m5mm.registry import NECKS
from .base_joint_neck import BaseJointNeck

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext


@NECKS.register_module()
class FusionJointNeck(BaseJointNeck):
    """``joint`` = the fusion's ``joint`` (the default neck; see :class:`BaseJointNeck` for the arguments)."""

    def combine(self, ctx: 'ForwardContext') -> Tensor:
        return ctx.fused.joint
