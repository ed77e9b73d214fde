"""What one micro-batch forward of a contrastive-accumulation step records or replays."""
from __future__ import annotations

from typing import Dict, Optional

from torch import Tensor

PHASES = ('collect', 'replay')


class MicroBatchPlan:
    """The instructions a model forward gets for one micro-batch of a contrastive-accumulation step
    (see :class:`m5mm.engine.contrastive_accumulation.ContrastiveAccumulator`).

    * ``phase='collect'`` (run under ``torch.no_grad``): every objective with an
      ``embedding_source`` (the contrastive ones) stores the detached embeddings it would contrast
      in :attr:`embeddings` and returns a 0 loss; every masked objective stores the number of
      positions its loss averages over in :attr:`counts`;
    * ``phase='replay'`` (the same micro-batch, the same random state, with gradients): a
      contrastive objective returns the surrogate ``sum(z * dL/dz)`` of its fresh embeddings ``z``
      and :attr:`embedding_grads`, the gradient of the whole batch's loss with respect to this
      micro-batch's slice of the cache; the losses of the other objectives are multiplied by
      :meth:`scale` (their share of the whole batch's mean).

    Args:
        phase: 'collect' or 'replay'.
        embedding_grads: replay: {objective name: {m: (B, D)}}.
        scales: replay: {objective name: factor of its ``loss_*`` outputs}.
        default_scale: the factor of objectives without an entry in ``scales`` (1 / K).
    """

    def __init__(self, *, phase: str, embedding_grads: Optional[Dict[str, Dict[str, Tensor]]] = None,
                 scales: Optional[Dict[str, float]] = None, default_scale: float = 1.0) -> None:
        if phase not in PHASES:
            raise ValueError(f'phase must be one of {PHASES}, got {phase!r}')
        self.phase = phase
        self.embedding_grads = embedding_grads or {}
        self.scales = scales or {}
        self.default_scale = default_scale
        #: collect: {objective name: ({m: (B, D)} detached embeddings, {m: (B,) bool} present)}
        self.embeddings: Dict[str, tuple] = {}
        #: collect: {objective name: number of positions its loss is the mean of}
        self.counts: Dict[str, int] = {}

    @property
    def collecting(self) -> bool:
        return self.phase == 'collect'

    def scale(self, name: str) -> float:
        """The factor of objective ``name``'s losses in a replay."""
        return self.scales.get(name, self.default_scale)
