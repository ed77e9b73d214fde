"""A summary of the run at its end: time, throughput and peak memory of every process."""
from __future__ import annotations

import json
import resource
import time

import torch

from m5mm.registry import HOOKS

from .base import Hook


def peak_memory_gb() -> float:
    """Peak memory of this process: CUDA memory allocated when on a GPU, else the peak RSS."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # kB on Linux


@HOOKS.register_module()
class RunSummaryHook(Hook):
    """Logs the run's summary and writes it to ``WORK_DIR/summary.json``."""

    priority = 85

    def before_run(self, trainer) -> None:
        self._start = time.perf_counter()
        self._start_step = trainer.state.step
        self._start_samples = trainer.state.samples

    def after_run(self, trainer) -> None:
        elapsed = time.perf_counter() - self._start
        memory = trainer.accelerator.gather(torch.tensor([peak_memory_gb()], device=trainer.accelerator.device))
        if not trainer.is_main:
            return
        steps = trainer.state.step - self._start_step
        samples = trainer.state.samples - self._start_samples
        log = getattr(trainer, 'last_log', {})
        summary = dict(steps=steps, total_steps=trainer.total_steps, seconds=elapsed,
                       samples_per_s=samples / max(elapsed, 1e-9), processes=trainer.accelerator.num_processes,
                       distributed_type=str(trainer.accelerator.distributed_type),
                       precision=trainer.accelerator.mixed_precision, parameters=trainer.num_parameters(),
                       peak_memory_gb_per_process=[round(float(m), 3) for m in memory.tolist()],
                       final_loss=log.get('loss'))
        (trainer.work_dir / 'summary.json').write_text(json.dumps(summary, indent=2))
        trainer.logger.info('Training finished: %d steps in %.1f s (%.1f samples/s over %d processes), final loss '
                            '%s, peak memory per process %s GB. Work dir: %s', steps, elapsed,
                            summary['samples_per_s'], summary['processes'],
                            f'{log["loss"]:.4f}' if log else 'n/a', summary['peak_memory_gb_per_process'],
                            trainer.work_dir)
