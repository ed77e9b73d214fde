"""Learning-rate schedules (SCHEDULERS registry; mmengine's schedulers are reachable too)."""
from __future__ import annotations

import mmengine.optim  # noqa: F401  (registers mmengine's schedulers into the parent registry)
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR
from transformers.optimization import _get_linear_schedule_with_warmup_lr_lambda as linear_warmup_decay

from m5mm.registry import SCHEDULERS


@SCHEDULERS.register_module()
class WarmupLinearDecayLR(LambdaLR):
    """Linear warm-up over ``warmup_ratio`` of the steps, then linear decay to ``min_ratio``.

    The SCALE recipe: 10% warm-up, then linear decay (docs/method.md section 4). The factor is that of
    ``transformers.get_linear_schedule_with_warmup`` one step ahead (with one more warm-up and one
    more total step), so the first step already trains, at ``lr / (warmup_steps + 1)``; the decay is
    floored at ``min_ratio``.
    """

    def __init__(self, optimizer: Optimizer, *, total_steps: int, warmup_ratio: float = 0.1,
                 min_ratio: float = 0.0, last_epoch: int = -1) -> None:
        self.total_steps = max(1, total_steps)
        self.warmup_steps = int(round(warmup_ratio * self.total_steps))
        self.min_ratio = min_ratio
        super().__init__(optimizer, self._factor, last_epoch=last_epoch)   # (state: plain numbers only)

    def _factor(self, step: int) -> float:
        factor = linear_warmup_decay(step + 1, num_warmup_steps=self.warmup_steps + 1,
                                     num_training_steps=self.total_steps + 1)
        if step < self.warmup_steps:
            return factor
        return self.min_ratio + (1.0 - self.min_ratio) * factor
