"""Classification: a linear probe on frozen features, or the accuracy of a fine-tuned head's logits."""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Sequence

from m5mm.registry import TASKS

from ..linear_probe import LinearProbe
from ..metrics.classification import topk_accuracy
from .split_access import FeaturesBySplit, get_field, get_split
from .task_result import TaskResult

logger = logging.getLogger(__name__)

SOURCES = ('auto', 'logits', 'probe')


@TASKS.register_module()
class ClassificationTask:
    """Classification accuracy on a test split, from a linear probe or a fine-tuned head's logits.

    ``task(features_by_split) -> TaskResult({'classification': {'accuracy': .., 'top5': ..}})``.

    Args:
        train_split: features the probe is trained on. test_split: where it is scored.
        label_key: the label field (category).
        source: 'logits' scores the test split's ``logits`` field (N, C) (a fine-tuned
            classifier's output, label indices = columns); 'probe' trains a linear probe;
            'auto' uses logits when the test split has them, else the probe.
        probe: keyword arguments of :class:`m5mm.evaluation.LinearProbe`.
        ks: top-k cut-offs (1 -> 'accuracy', 5 -> 'top5').

    Example config: ``dict(type='ClassificationTask', probe=dict(weight_decay=1e-4, max_iter=200))``.
    """

    #: what ``tools/test.py --tasks`` and ``EvaluationHook`` call it, the test-data splits it reads, and the
    #: feature sets it scores (:data:`m5mm.evaluation.evaluate.INPUTS`)
    task_name = 'classification'
    data_splits = ('train', 'query', 'gallery')
    inputs = ('test', 'train')

    def __init__(self, *, train_split: str = 'train', test_split: str = 'test', label_key: str = 'category',
                 source: str = 'auto', probe: Optional[Dict[str, Any]] = None,
                 ks: Sequence[int] = (1, 5)) -> None:
        if source not in SOURCES:
            raise ValueError(f'source must be one of {SOURCES}, got {source!r}')
        self.train_split = train_split
        self.test_split = test_split
        self.label_key = label_key
        self.source = source
        self.probe = dict(probe or {})
        self.ks = tuple(ks)
        LinearProbe(**self.probe)  # fail early on a bad probe config

    def __call__(self, features_by_split: FeaturesBySplit) -> TaskResult:
        """Score the test split -> ``{'classification': {...}}``."""
        test = get_split(features_by_split, self.test_split)
        labels = get_field(test, self.label_key, self.test_split)
        use_logits = self.source == 'logits' or (self.source == 'auto' and 'logits' in test)
        if use_logits:
            logits = get_field(test, 'logits', self.test_split)
            return TaskResult({'classification': topk_accuracy(logits, labels, ks=self.ks)})
        train = get_split(features_by_split, self.train_split)
        train_labels = get_field(train, self.label_key, self.train_split)
        probe = LinearProbe(**self.probe).fit(train['features'], train_labels)
        logger.info('linear probe trained on %d %s samples, %d classes', len(train['ids']), self.train_split,
                    len(probe.classes))
        return TaskResult({'classification': probe.evaluate(test['features'], labels, ks=self.ks)})
