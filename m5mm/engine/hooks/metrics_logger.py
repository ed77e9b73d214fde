"""Writes averaged training scalars to ``WORK_DIR/metrics.jsonl`` every ``interval`` steps."""
from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any, Dict, List

import torch
from torch import Tensor

from accelerate.utils import gather_object

from m5mm.engine.trackers import log_scalars
from m5mm.registry import HOOKS
from m5mm.utils.files import atomic_write_text

from .base import Hook


@HOOKS.register_module()
class MetricsLoggerHook(Hook):
    """Averages every scalar the model returns over ``interval`` steps (and over processes)
    and appends one JSON object per logged step: step, epoch, lr, loss terms, samples/s.

    The file has one row per logged step over the whole run: a resumed run first drops the rows
    of the steps after its checkpoint (they are trained again), and the averages of a step
    interval that a checkpoint cut in two are carried in the checkpoint.
    Reads the step's scalars from ``trainer.messages`` (``train/*``); publishes each row there as the
    ``train_log`` info (for the progress bar and the run summary) and sends it to the experiment
    trackers of ``log_with`` (:mod:`m5mm.engine.trackers`).
    """

    priority = 10

    def __init__(self, *, interval: int = 10, filename: str = 'metrics.jsonl') -> None:
        self.interval = interval
        self.filename = filename
        self._sums: Dict[str, List[Tensor]] = defaultdict(list)
        self._samples = 0
        self._tic = 0.0

    def state_dict(self) -> Dict[str, Any]:
        return dict(values={k: [float(v) for v in values] for k, values in self._sums.items()},
                    samples=self._samples)

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self._sums = defaultdict(list, {k: [torch.tensor(v, dtype=torch.float32) for v in values]
                                        for k, values in state.get('values', {}).items()})
        self._samples = int(state.get('samples', 0))

    def before_run(self, trainer) -> None:
        self._tic = time.perf_counter()
        path = trainer.work_dir / self.filename
        if trainer.is_main and path.is_file():
            truncate_rows(path, trainer.state.step)

    def after_train_step(self, trainer, batch, outputs) -> None:
        scalars = trainer.messages.step_values('train/', trainer.state.step)
        self._samples += int(scalars.pop('samples', 0))
        scalars.pop('lr', None)
        for key, value in scalars.items():
            self._sums[key].append(torch.as_tensor(value).float().reshape(()))
        if trainer.state.step % self.interval == 0 or trainer.is_last_step:
            self._flush(trainer)

    def _flush(self, trainer) -> None:
        keys, averaged = _mean_over_ranks(trainer.accelerator, self._sums)
        device = trainer.accelerator.device
        samples = trainer.accelerator.reduce(torch.tensor(float(self._samples), device=device), reduction='sum')
        elapsed = max(time.perf_counter() - self._tic, 1e-9)
        record = dict(step=trainer.state.step, epoch=trainer.state.epoch, lr=trainer.messages.latest('train/lr'))
        record.update({k: float(v) for k, v in zip(keys, averaged.tolist())})
        record['loss'] = float(sum(v for k, v in record.items() if k.startswith('loss_')))
        record['samples_per_s'] = float(samples) / elapsed
        trainer.messages.update_info('train_log', record, persistent=True)
        log_scalars(trainer.accelerator, {k: v for k, v in record.items() if k not in ('step', 'epoch')},
                    step=record['step'], prefix='train')
        if trainer.is_main:
            with open(trainer.work_dir / self.filename, 'a') as f:
                f.write(json.dumps(record) + '\n')
        self._sums.clear()
        self._samples = 0
        self._tic = time.perf_counter()


def truncate_rows(path, step: int) -> int:
    """Drop the rows of ``path`` (JSON lines with a ``step``) after ``step``; returns how many were dropped.

    An unreadable last line (a run killed while writing it) is dropped too.
    """
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        if isinstance(row, dict) and isinstance(row.get('step'), int) and row['step'] > step:
            dropped += 1
        else:
            kept.append(line)
    if dropped:
        atomic_write_text(path, ''.join(line + '\n' for line in kept))
    return dropped


def _mean_over_ranks(accelerator, sums: Dict[str, List[Tensor]]):
    """Sorted keys and (K,) means over the ranks of each key's per-rank mean over steps.

    Ranks may hold different keys (an output only some batches produce, e.g. the collapse monitor's spread
    of a modality present in fewer than two samples): the keys are agreed first, and each is averaged
    over the ranks that have it, so every rank runs the same collectives.
    """
    device = accelerator.device
    names = sorted(set().union(*gather_object([sorted(sums)]))) if accelerator.num_processes > 1 else sorted(sums)
    totals = torch.zeros(len(names), device=device)
    counts = torch.zeros(len(names), device=device)
    for i, key in enumerate(names):
        if sums.get(key):
            totals[i] = torch.stack([v.to(device) for v in sums[key]]).mean()
            counts[i] = 1.0
    totals, counts = accelerator.reduce(torch.stack([totals, counts]), reduction='sum')
    kept = counts > 0
    return [k for k, keep in zip(names, kept.tolist()) if keep], (totals[kept] / counts[kept])
