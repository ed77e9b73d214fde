"""Honest evaluation reports: which splits can be evaluated, how many queries were scored, what to warn about.

``results.json`` holds the metrics of each task and, under ``query_counts``, how many queries each
retrieval result scored and skipped (a query without a positive in the gallery cannot be scored).
Metrics over a handful of queries, or over the few left when most were skipped, say little: the
tools warn about both.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from m5mm.datasets.loaders import build_dataset
from m5mm.utils.config import reading_dataset_cfg

logger = logging.getLogger(__name__)
QUERY_COUNTS = 'query_counts'
MIN_SCORED_QUERIES = 10   # fewer scored queries than this: a warning


def _without_split(dataset_cfg: Mapping[str, Any]) -> Dict[str, Any]:
    return reading_dataset_cfg(dataset_cfg, drop=('split',))


def split_sizes(cfg, splits: Iterable[str], *, train_dataset=None) -> Dict[str, int]:
    """Records per split of the config's test dataset (reusing the train dataset's parse when it reads
    the same data)."""
    splits = list(dict.fromkeys(splits))
    test_cfg = _without_split(cfg.test_dataloader.dataset)
    source = train_dataset if train_dataset is not None and hasattr(train_dataset, 'split_sizes') \
        and test_cfg == _without_split(cfg.train_dataloader.dataset) else None
    if source is None:
        source = build_dataset(dict(test_cfg, split=splits))
    if hasattr(source, 'split_sizes'):
        sizes = source.split_sizes()
        return {split: int(sizes.get(split, 0)) for split in splits}
    return {split: len(build_dataset(dict(test_cfg, split=split))) for split in splits}


def runnable_tasks(tasks: Sequence[str], needed: Mapping[str, Sequence[str]], sizes: Mapping[str, int],
                   log: logging.Logger = logger) -> List[str]:
    """The ``tasks`` whose splits (``needed[task]``) all hold records; a warning names each empty split."""
    runnable = []
    for task in tasks:
        empty = [split for split in needed.get(task, ()) if sizes.get(split, 0) == 0]
        if empty:
            log.warning('Evaluation %r is skipped: its split(s) %s have no record in the test data',
                        task, ', '.join(repr(s) for s in empty))
        else:
            runnable.append(task)
    return runnable


def query_counts(counts: Mapping[str, Mapping[str, int]]) -> Dict[str, Dict[str, int]]:
    """``{result: {'queries', 'scored', 'skipped'}}`` for every retrieval result among the task counts."""
    out = {}
    for name, c in counts.items():
        if isinstance(c, Mapping) and 'num_queries' in c and 'num_evaluated' in c:
            out[name] = dict(queries=int(c['num_queries']), scored=int(c['num_evaluated']),
                             skipped=int(c['num_queries']) - int(c['num_evaluated']))
    return out


def warn_about_queries(counts: Mapping[str, Mapping[str, int]], log: logging.Logger = logger) -> List[str]:
    """Warn (and return the messages) when a retrieval result scored few queries or skipped most."""
    messages = []
    for name, c in counts.items():
        if c['skipped'] > c['scored']:
            messages.append(f'{name}: {c["skipped"]} of {c["queries"]} queries were skipped (no positive in the '
                            f'gallery); the metrics describe only the {c["scored"]} scored')
        elif c['scored'] < MIN_SCORED_QUERIES:
            messages.append(f'{name}: only {c["scored"]} queries were scored; the metrics are noisy')
    for message in messages:
        log.warning(message)
    return messages


def results_document(results: Dict[str, Any], counts: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """What ``results.json`` holds: the metrics, plus ``query_counts`` when there are retrieval results."""
    document = dict(results)
    scored = query_counts(counts or {})
    if scored:
        document[QUERY_COUNTS] = scored
    return document
