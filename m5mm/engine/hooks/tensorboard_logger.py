"""Mirrors the logged scalars to TensorBoard (``WORK_DIR/tensorboard``)."""
from __future__ import annotations

from m5mm.registry import HOOKS
from m5mm.utils.require import require

from .base import Hook


@HOOKS.register_module()
class TensorboardLoggerHook(Hook):
    """Writes ``trainer.last_log`` (set by :class:`MetricsLoggerHook`) whenever it changes.
    Needs the ``tensorboard`` extra."""

    priority = 20

    def __init__(self, *, log_dir: str = 'tensorboard') -> None:
        self.log_dir = log_dir
        self._writer = None
        self._last_step = -1

    def before_run(self, trainer) -> None:
        if trainer.is_main:
            require('tensorboard', 'tensorboard')
            from torch.utils.tensorboard import SummaryWriter
            # purge_step: a resumed run hides the events of the steps it trains again
            self._writer = SummaryWriter(str(trainer.work_dir / self.log_dir),
                                         purge_step=trainer.state.step + 1 if trainer.state.step else None)

    def after_train_step(self, trainer, batch, outputs) -> None:
        log = getattr(trainer, 'last_log', {})
        if self._writer is None or not log or log['step'] == self._last_step:
            return
        self._last_step = log['step']
        for key, value in log.items():
            if key not in ('step', 'epoch'):
                self._writer.add_scalar(f'train/{key}', value, log['step'])

    def after_run(self, trainer) -> None:
        if self._writer is not None:
            self._writer.close()
