"""What one micro-batch forward of a contrastive-accumulation step records or replays (the model's side)."""
from __future__ import annotations

from typing import Dict, Optional

from torch import Tensor

PHASES = ('collect', 'replay')
#: {context field: {m: (B, D)}}, e.g. ``{'embeddings': {'text': ..., 'image': ...}}``
Fields = Dict[str, Dict[str, Tensor]]


class MicroBatchPlan:
    """The instructions :meth:`MultiModalModel.forward <m5mm.models.MultiModalModel.forward>` gets for
    one micro-batch of a contrastive-accumulation step (see
    :class:`m5mm.engine.contrastive_accumulation.ContrastiveAccumulator`). Objectives never see it: the
    model reads and fills it.

    * ``phase='collect'`` (run under ``torch.no_grad``): for every objective with
      :attr:`~m5mm.models.objectives.BaseObjective.batch_wide` fields the model stores those fields
      of the step's context (detached) and its ``present`` in :attr:`cached`, and does not call it;
      for the others it stores the ``count_<name>`` they report in :attr:`counts`;
    * ``phase='replay'`` (the same micro-batch, the same random state, with gradients): a batch-wide
      objective's loss is replaced by the surrogate ``sum(z * dL/dz)`` of its fresh fields ``z`` and
      :attr:`field_grads`, the gradient of the whole batch's loss with respect to this micro-batch's
      slice of the cache; the losses of the other objectives are multiplied by :meth:`scale` (their
      share of the whole batch's mean).

    Args:
        phase: 'collect' or 'replay'.
        field_grads: replay: {objective name: {field: {m: (B, D)}}}.
        scales: replay: {objective name: factor of its ``loss_*`` outputs}.
        default_scale: the factor of objectives without an entry in ``scales`` (1 / K).
    """

    def __init__(self, *, phase: str, field_grads: Optional[Dict[str, Fields]] = None,
                 scales: Optional[Dict[str, float]] = None, default_scale: float = 1.0) -> None:
        if phase not in PHASES:
            raise ValueError(f'phase must be one of {PHASES}, got {phase!r}')
        self.phase = phase
        self.field_grads = field_grads or {}
        self.scales = scales or {}
        self.default_scale = default_scale
        #: collect: {objective name: ({field: {m: (B, D)}} detached, {m: (B,) bool} present)}
        self.cached: Dict[str, tuple] = {}
        #: collect: {objective name: the count its losses are the mean of}
        self.counts: Dict[str, int] = {}

    @property
    def collecting(self) -> bool:
        return self.phase == 'collect'

    def scale(self, name: str) -> float:
        """The factor of objective ``name``'s losses in a replay."""
        return self.scales.get(name, self.default_scale)
