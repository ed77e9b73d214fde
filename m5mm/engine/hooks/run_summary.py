"""A summary of the whole run at its end: time, throughput and peak memory of every process."""
from __future__ import annotations

import resource
import time
from typing import Any, Dict, List

import torch

from m5mm.registry import HOOKS
from m5mm.utils.files import atomic_write_json

from .base import Hook


def peak_memory_gb() -> float:
    """Peak memory of this process: CUDA memory allocated when on a GPU, else the peak RSS."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # kB on Linux


@HOOKS.register_module()
class RunSummaryHook(Hook):
    """Logs the run's summary and writes it to ``WORK_DIR/summary.json``.

    The summary covers the whole run: a resumed run adds its segment (steps, seconds, processes)
    to those of the earlier launches, which are carried in the checkpoint (time spent on steps
    trained again after a resume is not counted).
    """

    priority = 85

    def __init__(self) -> None:
        self._segments: List[Dict[str, Any]] = []
        self._segment: Dict[str, Any] = {}
        self._start = 0.0

    def state_dict(self) -> Dict[str, Any]:
        return dict(segments=self._segments + ([self._current()] if self._segment else []))

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self._segments = [dict(s) for s in state.get('segments', [])]

    def before_run(self, trainer) -> None:
        self._start = time.perf_counter()
        self._segment = dict(from_step=trainer.state.step, to_step=trainer.state.step, samples=0,
                             processes=trainer.accelerator.num_processes)
        self._samples_at_start = trainer.state.samples

    def after_train_step(self, trainer, batch, outputs) -> None:
        self._segment.update(to_step=trainer.state.step, samples=trainer.state.samples - self._samples_at_start)

    def _current(self, **extra) -> Dict[str, Any]:
        return dict(self._segment, seconds=round(time.perf_counter() - self._start, 3), **extra)

    def after_run(self, trainer) -> None:
        memory = trainer.accelerator.gather(torch.tensor([peak_memory_gb()], device=trainer.accelerator.device))
        if not trainer.is_main:
            return
        peak = [round(float(m), 3) for m in memory.tolist()]
        segments = self._segments + [self._current(peak_memory_gb_per_process=peak)]
        seconds = sum(s['seconds'] for s in segments)
        samples = sum(s['samples'] for s in segments)
        log = trainer.messages.info('train_log') or {}
        summary = dict(steps=trainer.state.step, total_steps=trainer.total_steps,
                       finished=trainer.state.step >= trainer.total_steps, seconds=seconds,
                       samples_per_s=samples / max(seconds, 1e-9), processes=trainer.accelerator.num_processes,
                       distributed_type=str(trainer.accelerator.distributed_type),
                       precision=trainer.accelerator.mixed_precision, parameters=trainer.num_parameters(),
                       peak_memory_gb_per_process=segments[-1]['peak_memory_gb_per_process'],
                       final_loss=log.get('loss'), launches=len(segments), segments=segments)
        atomic_write_json(trainer.work_dir / 'summary.json', summary)
        trainer.logger.info('Training finished: %d steps in %.1f s over %d launch(es) (%.1f samples/s over %d '
                            'processes), final loss %s, peak memory per process %s GB. Work dir: %s',
                            trainer.state.step, seconds, len(segments), summary['samples_per_s'],
                            summary['processes'], f'{log["loss"]:.4f}' if log else 'n/a',
                            summary['peak_memory_gb_per_process'], trainer.work_dir)
