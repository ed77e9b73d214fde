"""Learning-rate schedules (SCHEDULERS registry; mmengine's schedulers are reachable too)."""
from __future__ import annotations

import mmengine.optim  # noqa: F401  (registers mmengine's schedulers into the parent registry)
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from m5mm.registry import SCHEDULERS


@SCHEDULERS.register_module()
class WarmupLinearDecayLR(LambdaLR):
    """Linear warm-up from 0 over ``warmup_ratio`` of the steps, then linear decay to ``min_ratio``.

    The SCALE recipe: 10% warm-up, then linear decay (SCALE_SPEC section 4).
    """

    def __init__(self, optimizer: Optimizer, *, total_steps: int, warmup_ratio: float = 0.1,
                 min_ratio: float = 0.0, last_epoch: int = -1) -> None:
        self.total_steps = max(1, total_steps)
        self.warmup_steps = int(round(warmup_ratio * self.total_steps))
        self.min_ratio = min_ratio
        super().__init__(optimizer, self._factor, last_epoch=last_epoch)

    def _factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        remaining = (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps)
        return self.min_ratio + (1.0 - self.min_ratio) * max(0.0, remaining)
