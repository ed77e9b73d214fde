"""Evaluates the trained model at the end of the run (and optionally after every epoch)."""
from __future__ import annotations

import json
from typing import Sequence

from m5mm.registry import HOOKS

from .base import Hook


@HOOKS.register_module()
class EvaluationHook(Hook):
    """Runs downstream ``tasks`` (see :mod:`m5mm.engine.evaluate`) on the config's test data,
    prints the table and writes ``WORK_DIR/results.json`` (``eval_epoch_<n>.json`` per epoch)."""

    priority = 95  # after the final checkpoint: a failing evaluation loses no training

    def __init__(self, *, tasks: Sequence[str] = ('retrieval',), kind: str = 'joint',
                 every_epoch: bool = False) -> None:
        self.tasks = tuple(tasks)
        self.kind = kind
        self.every_epoch = every_epoch

    def _evaluate(self, trainer, filename: str) -> dict:
        from m5mm.engine.evaluate import evaluate_model
        from m5mm.evaluation import format_results
        results = evaluate_model(trainer.model, trainer.cfg, tasks=self.tasks, kind=self.kind,
                                 accelerator=trainer.accelerator)
        if trainer.is_main:
            (trainer.work_dir / filename).write_text(json.dumps(results, indent=2))
            trainer.logger.info('Evaluation after %d steps (%s features):\n%s', trainer.state.step, self.kind,
                                format_results(results))
        trainer.last_eval = results
        return results

    def after_train_epoch(self, trainer) -> None:
        if self.every_epoch:
            self._evaluate(trainer, f'eval_epoch_{trainer.state.epoch}.json')

    def after_run(self, trainer) -> None:
        if trainer.state.step >= trainer.total_steps:
            results = self._evaluate(trainer, 'results.json')
            if trainer.is_main and 'retrieval_coarse' in results:
                coarse, fine = results['retrieval_coarse'], results.get('retrieval_fine', {})
                print(f"Retrieval on the query set: coarse mAP@1 {100 * coarse['mAP@1']:.2f}, "
                      f"mAP@10 {100 * coarse['mAP@10']:.2f}; fine mAP@1 {100 * fine.get('mAP@1', float('nan')):.2f}, "
                      f"mAP@10 {100 * fine.get('mAP@10', float('nan')):.2f} (%)", flush=True)
