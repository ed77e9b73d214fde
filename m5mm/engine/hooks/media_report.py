"""Counts media that could not be read and prints a per-epoch summary."""
from __future__ import annotations

from m5mm.registry import HOOKS

from .base import Hook


@HOOKS.register_module()
class MediaReportHook(Hook):
    """Aggregates ``batch['meta']['errors']`` (filled by the dataset in its workers) into a
    :class:`m5mm.datasets.MediaReport` and logs its summary at the end of every epoch."""

    priority = 35

    def before_train_epoch(self, trainer) -> None:
        from m5mm.datasets import MediaReport
        self.report = MediaReport()

    def after_train_step(self, trainer, batch, outputs) -> None:
        self.report.update(batch['meta'])

    def after_train_epoch(self, trainer) -> None:
        if trainer.is_main and self.report.total:
            trainer.logger.warning('Epoch %d: %s', trainer.state.epoch, self.report.summary())
