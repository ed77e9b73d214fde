"""Evaluates the trained model at the end of the run (and optionally after every epoch)."""
from __future__ import annotations

import json
from typing import List, Sequence

from m5mm.engine.trackers import log_scalars
from m5mm.registry import HOOKS
from m5mm.utils.files import atomic_write_json

from .base import Hook


@HOOKS.register_module()
class EvaluationHook(Hook):
    """Runs downstream ``tasks`` (see :mod:`m5mm.evaluation.evaluate`) on the config's test data,
    prints the table and writes ``WORK_DIR/results.json`` (``eval_epoch_<n>.json`` per epoch) with
    the queries scored and skipped, and the evaluation splits' media errors to ``media_report.json``.
    The results are published as the ``eval_results`` message and sent to the ``log_with`` trackers.

    The evaluation splits are checked before training: a task whose split is empty is skipped with
    a warning naming the split, so a finished run never fails for want of test data.
    """

    priority = 95  # after the final checkpoint: a failing evaluation loses no training

    def __init__(self, *, tasks: Sequence[str] = ('retrieval',), kind: str = 'joint',
                 every_epoch: bool = False) -> None:
        self.tasks = tuple(tasks)
        self.kind = kind
        self.every_epoch = every_epoch
        self.tasks_to_run: List[str] = list(self.tasks)

    def before_run(self, trainer) -> None:
        from m5mm.evaluation.report import runnable_tasks, split_sizes
        from m5mm.evaluation.tasks import check_tasks
        classes = check_tasks(self.tasks, where='EvaluationHook')
        needed = {task: cls.data_splits for task, cls in zip(self.tasks, classes)}
        sizes = split_sizes(trainer.cfg, [s for splits in needed.values() for s in splits],
                            train_dataset=trainer.train_dataset)
        self.tasks_to_run = runnable_tasks(self.tasks, needed, sizes, trainer.logger)

    def _evaluate(self, trainer, filename: str) -> dict:
        from m5mm.evaluation.report import results_document, warn_about_queries
        from m5mm.evaluation.evaluate import evaluate_features
        from m5mm.evaluation import format_results
        if not self.tasks_to_run:
            trainer.logger.warning('No evaluation after step %d: every task\'s test split is empty', trainer.state.step)
            return {}
        media: dict = {}
        results, counts, _ = evaluate_features(trainer.model, trainer.cfg, tasks=self.tasks_to_run, kind=self.kind,
                                               accelerator=trainer.accelerator, media=media)
        if trainer.is_main:
            document = results_document(results, counts)
            atomic_write_json(trainer.work_dir / filename, document)
            trainer.logger.info('Evaluation after %d steps (%s features):\n%s', trainer.state.step, self.kind,
                                format_results(results))
            warn_about_queries(document.get('query_counts', {}), trainer.logger)
            _record_media(trainer, media)
        results = json.loads(json.dumps(results, default=float))   # (numpy numbers as floats)
        trainer.messages.update_info('eval_results', results, persistent=True)
        log_scalars(trainer.accelerator, results, step=trainer.state.step, prefix='eval')
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


def _record_media(trainer, media: dict) -> None:
    from m5mm.datasets.media_log import dataset_entry, record_media_entry, report_entry
    for split, (report, dataset) in media.items():
        record_media_entry(trainer.work_dir, split, dataset=dataset_entry(dataset),
                           entry=dict(step=trainer.state.step, **report_entry(report)), series='evaluations',
                           key='step')
        if report.total:
            trainer.logger.warning('Evaluation split %s: %s', split, report.summary())
