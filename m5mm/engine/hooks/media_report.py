"""Counts media that could not be read, per epoch and split, into ``WORK_DIR/media_report.json``."""
from __future__ import annotations

from typing import Any, Dict

from m5mm.datasets.media_log import dataset_entry, gather_report, record_media_entry, report_entry
from m5mm.registry import HOOKS

from .base import Hook


@HOOKS.register_module()
class MediaReportHook(Hook):
    """Aggregates ``batch['meta']['errors']`` (filled by the dataset in its workers) over all processes
    into a :class:`m5mm.datasets.MediaReport` per epoch, logs its summary and writes it to
    ``WORK_DIR/media_report.json`` (``train`` -> ``epochs``; a run stopped mid-epoch by ``--max-steps``
    writes the part it read, ``complete: false``). The counts of an epoch cut by a checkpoint are
    carried in the checkpoint. Evaluation splits are added by :class:`EvaluationHook`."""

    priority = 35

    def __init__(self) -> None:
        from m5mm.datasets import MediaReport
        self.report = MediaReport()

    def state_dict(self) -> Dict[str, Any]:
        return self.report.state_dict()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.report.load_state_dict(state)

    def before_train_epoch(self, trainer) -> None:
        if trainer.state.batch_in_epoch == 0:   # (a resumed epoch keeps the counts of its first part)
            self.report.reset()

    def after_train_step(self, trainer, batch, outputs) -> None:
        self.report.update(batch['meta'])

    def after_train_epoch(self, trainer) -> None:
        self._write(trainer, complete=True)
        self.report.reset()

    def after_run(self, trainer) -> None:
        if trainer.state.batch_in_epoch > 0:   # stopped inside an epoch (--max-steps)
            self._write(trainer, complete=False)

    def _write(self, trainer, *, complete: bool) -> None:
        report = gather_report(self.report, trainer.accelerator)
        if not trainer.is_main:
            return
        entry = dict(epoch=trainer.state.epoch, step=trainer.state.step, complete=complete, **report_entry(report))
        unread = len(trainer.train_dataset) - report.num_samples
        if complete and unread > 0:
            entry.update(samples_not_read=unread, not_read_because='train_dataloader.drop_last drops the last '
                                                                   'incomplete batch of every epoch')
        record_media_entry(trainer.work_dir, 'train', dataset=dataset_entry(trainer.train_dataset), entry=entry,
                           series='epochs', key='epoch')
        if report.total:
            trainer.logger.warning('Epoch %d%s: %s', trainer.state.epoch, '' if complete else ' (part)',
                                   report.summary())
