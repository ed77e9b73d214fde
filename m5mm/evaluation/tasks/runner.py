"""Run downstream tasks on exported features and print their results as a table."""
from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional, Sequence, Union

from m5mm.registry import TASKS

from .split_access import FeaturesBySplit

logger = logging.getLogger(__name__)

DEFAULT_TASKS = (dict(type='RetrievalTask'), dict(type='ClassificationTask'), dict(type='ClusteringTask'))


def build_task(task: Union[dict, Any]) -> Any:
    """A task instance from a config dict (TASKS registry) or an already built task; a task is called
    as ``task(features_by_split) -> TaskResult``."""
    return TASKS.build(task) if isinstance(task, dict) else task


def run_tasks(features_by_split: FeaturesBySplit, tasks: Optional[Sequence[Union[dict, Any]]] = None, *,
              return_counts: bool = False):
    """Run ``tasks`` on ``features_by_split`` and merge their results.

    Args:
        features_by_split: split name -> features dict (see :mod:`m5mm.evaluation.features`)
            or the path of a saved .npz (loaded once).
        tasks: task configs or instances; default: retrieval (coarse + fine),
            classification (linear probe unless the test split has logits) and clustering.
        return_counts: also return the tasks' counts (queries scored, ...) by result name.

    Returns:
        ``{'retrieval_coarse': {'mAP@1': .., ..., 'Prec@1': .., ..., 'Recall@1': .., ..., 'M5Prec@100': ..},
        'retrieval_fine': {...},
        'classification': {'accuracy': .., 'top5': ..}, 'clustering': {'NMI': .., 'purity': ..,
        'ARI': ..}}`` (fractions in [0, 1]; ARI may be negative), and the counts when asked.
    """
    features_by_split = dict(features_by_split)
    results: Dict[str, Dict[str, float]] = {}
    counts: Dict[str, Any] = {}
    for cfg in tasks if tasks is not None else DEFAULT_TASKS:
        task = build_task(cfg)
        out = task(features_by_split)
        clash = set(out.results) & set(results)
        if clash:
            raise ValueError(f'two tasks produced the same result names {sorted(clash)}')
        results.update(out.results)
        if out.counts:   # by result name: {'retrieval_coarse': {'num_queries': .., ...}, ...}
            counts.update(out.counts if set(out.counts) <= set(out.results)
                          else {name: out.counts for name in out.results})
        logger.info('%s: %s', type(task).__name__, dict(out.results))
    return (results, counts) if return_counts else results


def _cell(value: Any, percent: bool, digits: int) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return 'nan'
        return f'{value * 100:.{digits}f}' if percent else f'{value:.{digits + 2}f}'
    return str(value)


def group_results(results: Dict[str, Dict[str, Any]]) -> List[List[str]]:
    """Result names grouped by their metric names (in order of first appearance), one table each."""
    groups: List[List[str]] = []
    for name, metrics in results.items():
        for group in groups:
            if list(results[group[0]]) == list(metrics):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups


def format_results(results: Dict[str, Dict[str, Any]], *, percent: bool = True, digits: int = 2) -> str:
    """A results dict as aligned text tables (one per group of tasks with the same metrics).

    Values are shown as percentages by default, as in the paper's tables.
    """
    blocks = []
    for group in group_results(results):
        header = ['task'] + list(results[group[0]])
        rows = [[name] + [_cell(v, percent, digits) for v in results[name].values()] for name in group]
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
        lines = ['  '.join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                 for r in [header] + rows]
        lines.insert(1, '-' * len(lines[0]))
        blocks.append('\n'.join(lines))
    unit = ' (values in %)' if percent else ''
    return f'results{unit}\n' + '\n\n'.join(blocks)
