"""Hooks that stop a run the hard way, for the kill-and-resume and failure tests (imported by configs
through ``custom_imports``)."""
from __future__ import annotations

import os
import signal

from m5mm.engine.hooks import Hook
from m5mm.registry import HOOKS


@HOOKS.register_module()
class KillAtStepHook(Hook):
    """SIGKILLs its own process after step ``step`` is logged, in a run that started from scratch."""

    priority = 20   # after MetricsLoggerHook wrote the step's row, before any checkpoint

    def __init__(self, *, step: int) -> None:
        self.step = step
        self._armed = False

    def before_run(self, trainer) -> None:
        self._armed = trainer.state.step == 0

    def after_train_step(self, trainer, batch, outputs) -> None:
        if self._armed and trainer.state.step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class FailAtStepHook(Hook):
    """Raises at step ``step``: an error that stops a run."""

    def __init__(self, *, step: int) -> None:
        self.step = step

    def after_train_step(self, trainer, batch, outputs) -> None:
        if trainer.state.step == self.step:
            raise RuntimeError(f'planned failure at step {self.step}')
