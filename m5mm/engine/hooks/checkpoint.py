"""Saves checkpoints every ``interval`` steps, at every epoch end and at the end of the run."""
from __future__ import annotations

from typing import Optional

from m5mm.registry import HOOKS

from .base import Hook


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Checkpoint policy; the writing itself is :class:`m5mm.checkpoint.manager.CheckpointManager`."""

    priority = 90

    def __init__(self, *, interval: Optional[int] = None, by_epoch: bool = True, save_last: bool = True,
                 max_keep: int = 3) -> None:
        self.interval = interval
        self.by_epoch = by_epoch
        self.save_last = save_last
        self.max_keep = max_keep
        self._saved_step = -1

    def before_run(self, trainer) -> None:
        trainer.checkpoints.max_keep = self.max_keep

    def _save(self, trainer) -> None:
        if trainer.state.step != self._saved_step:
            trainer.save_checkpoint()
            self._saved_step = trainer.state.step

    def after_train_step(self, trainer, batch, outputs) -> None:
        if self.interval and trainer.state.step % self.interval == 0:
            self._save(trainer)

    def after_train_epoch(self, trainer) -> None:
        if self.by_epoch:
            self._save(trainer)

    def after_run(self, trainer) -> None:
        if self.save_last:
            self._save(trainer)
