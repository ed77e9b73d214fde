"""``joint`` from the fused vectors minus each modality's running mean over training."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Optional, Sequence

from torch import Tensor

from m5mm.models.fusion.fusion_utils import masked_joint
from m5mm.registry import NECKS
from m5mm.structures import FusionOutput
from .base_joint_neck import BaseJointNeck
from .running_centre import RunningCentre

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext


@NECKS.register_module()
class CentredJointNeck(BaseJointNeck):
    """``joint`` = the mean of the present modalities' fused vectors after subtracting each modality's
    running mean over training (:class:`RunningCentre`, updated in every training step; buffers
    ``centre.mean``, ``centre.seen``).

    Args:
        momentum: weight of the old mean in each update.
        (others: see :class:`BaseJointNeck`)
    """

    def __init__(self, *, modalities: Sequence[str], dim: Optional[int] = None, normalize: bool = True,
                 momentum: float = 0.99) -> None:
        super().__init__(modalities=modalities, dim=dim, normalize=normalize)
        if dim is None:
            raise AttributeError(f'{type(self).__name__} needs the fusion width (`dim`), which the fusion does not '
                                 f'declare')
        self.centre = RunningCentre(modalities=self.modalities, dim=int(dim), momentum=momentum)

    def combine(self, ctx: 'ForwardContext') -> Tensor:
        return self.of_fusion(ctx.fused, ctx.present)

    def of_fusion(self, fused: FusionOutput, present: Mapping[str, Tensor]) -> Tensor:
        return masked_joint(self.modalities, self.centre(fused.fused), present, fused.joint)

    def update(self, ctx: 'ForwardContext') -> None:
        self.centre.update(ctx.fused.fused, ctx.present)
