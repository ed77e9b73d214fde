"""Writes averaged training scalars to ``WORK_DIR/metrics.jsonl`` every ``interval`` steps."""
from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Dict, List

import torch
from torch import Tensor

from m5mm.registry import HOOKS

from .base import Hook


@HOOKS.register_module()
class MetricsLoggerHook(Hook):
    """Averages every scalar the model returns over ``interval`` steps (and over processes)
    and appends one JSON object per logged step: step, epoch, lr, loss terms, samples/s.

    The latest averages are in ``trainer.last_log`` for other hooks (progress bar, TensorBoard).
    """

    priority = 10

    def __init__(self, *, interval: int = 10, filename: str = 'metrics.jsonl') -> None:
        self.interval = interval
        self.filename = filename
        self._sums: Dict[str, List[Tensor]] = defaultdict(list)
        self._samples = 0
        self._tic = 0.0

    def before_run(self, trainer) -> None:
        self._tic = time.perf_counter()
        trainer.last_log = {}

    def after_train_step(self, trainer, batch, outputs) -> None:
        for key, value in outputs.items():
            if isinstance(value, Tensor) and value.numel() == 1:
                self._sums[key].append(value.detach().float().reshape(()))
        self._samples += trainer.last_batch_size
        if trainer.state.step % self.interval == 0 or trainer.is_last_step:
            self._flush(trainer)

    def _flush(self, trainer) -> None:
        keys = sorted(self._sums)
        local = torch.stack([torch.stack(self._sums[k]).mean() for k in keys]) if keys else torch.zeros(0)
        averaged = trainer.accelerator.reduce(local.to(trainer.accelerator.device), reduction='mean')
        samples = trainer.accelerator.reduce(
            torch.tensor(float(self._samples), device=trainer.accelerator.device), reduction='sum')
        elapsed = max(time.perf_counter() - self._tic, 1e-9)
        record = dict(step=trainer.state.step, epoch=trainer.state.epoch, lr=trainer.current_lr())
        record.update({k: float(v) for k, v in zip(keys, averaged.tolist())})
        record['loss'] = float(sum(v for k, v in record.items() if k.startswith('loss_')))
        record['samples_per_s'] = float(samples) / elapsed
        trainer.last_log = record
        if trainer.is_main:
            with open(trainer.work_dir / self.filename, 'a') as f:
                f.write(json.dumps(record) + '\n')
        self._sums.clear()
        self._samples = 0
        self._tic = time.perf_counter()
