"""The hook interface: trainer extensions called at fixed points of the loop."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from torch import Tensor

if TYPE_CHECKING:
    from m5mm.engine.trainer import Trainer


class Hook:
    """Base class; override the points you need. Every hook runs on every process;
    use ``trainer.is_main`` for work (files, printing) that only rank 0 should do.
    ``priority``: lower runs first (checkpoints run after loggers)."""

    priority = 50

    def before_run(self, trainer: 'Trainer') -> None:
        pass

    def before_train_epoch(self, trainer: 'Trainer') -> None:
        pass

    def after_train_step(self, trainer: 'Trainer', batch: dict, outputs: Dict[str, Tensor]) -> None:
        pass

    def after_train_epoch(self, trainer: 'Trainer') -> None:
        pass

    def after_run(self, trainer: 'Trainer') -> None:
        pass
