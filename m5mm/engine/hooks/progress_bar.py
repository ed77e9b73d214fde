"""A tqdm progress bar with loss, throughput and ETA (the end-of-run summary: RunSummaryHook)."""
from __future__ import annotations

from tqdm.auto import tqdm

from m5mm.registry import HOOKS

from .base import Hook


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Shows steps done / total with the latest logged loss and samples/s (the ``train_log`` message)
    (main process only)."""

    priority = 30

    def __init__(self, *, disable: bool = False) -> None:
        self.disable = disable
        self._bar = None

    def before_run(self, trainer) -> None:
        if trainer.is_main and not self.disable:
            self._bar = tqdm(total=trainer.total_steps, initial=trainer.state.step, desc='train',
                             dynamic_ncols=True, leave=True)

    def after_train_step(self, trainer, batch, outputs) -> None:
        if self._bar is None:
            return
        self._bar.update(trainer.state.step - self._bar.n)
        log = trainer.messages.info('train_log')
        if log:
            self._bar.set_postfix(epoch=trainer.state.epoch, loss=f"{log['loss']:.4f}",
                                  samples_s=f"{log['samples_per_s']:.1f}", refresh=False)

    def after_run(self, trainer) -> None:
        if self._bar is not None:
            self._bar.close()
