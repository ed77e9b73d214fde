"""Presence gap and presence share: does a product vector encode which modalities the product has?"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from m5mm.registry import TASKS

from ..metrics.presence import NO_MODALITY, group_variance_share, presence_gap, presence_patterns
from .split_access import FeaturesBySplit, get_field, get_split
from .task_result import TaskResult


@TASKS.register_module()
class PresenceTask:
    """The presence gap and presence share of a split's vectors (:mod:`m5mm.evaluation.metrics.presence`).

    ``task(features_by_split) -> TaskResult({'presence': {'gap': .., 'same': .., 'different': ..,
    'share': .., 'category_share': ..}}, counts={'num_categories': .., 'num_evaluated': ..,
    'skipped_categories': .., 'pairs_same': .., 'pairs_different': .., 'patterns': {name: count}})``.

    The pattern of a product is read from the split's ``present`` flags (after any modalities the
    evaluation dropped). Products with an unknown category (< 0) are left out of every number, and so
    are products with none of the modalities (pattern ``'none'``, e.g. a title + image model's products
    that have only a table): their vector holds no content in any model, so pairing them would measure
    "empty or not" rather than which modalities a product has. They are counted (``empty_products``)
    and the gap with them is reported as ``gap_with_empty``.

    Args:
        split: the split measured (``test`` = query + gallery). label_key: the category field.
        similarity: 'cosine' or 'dot' (the gap's pair similarity).
        modalities: the modalities that make up a pattern (default: every one in ``present``).

    Example config: ``dict(type='PresenceTask', split='test')``.
    """

    #: what ``tools/test.py --tasks`` and ``EvaluationHook`` call it, the test-data splits it reads, and the
    #: feature sets it scores (:data:`m5mm.evaluation.evaluate.INPUTS`)
    task_name = 'presence'
    data_splits = ('query', 'gallery')
    inputs = ('test',)

    def __init__(self, *, split: str = 'test', label_key: str = 'category', similarity: str = 'cosine',
                 modalities: Optional[Sequence[str]] = None) -> None:
        self.split = split
        self.label_key = label_key
        self.similarity = similarity
        self.modalities = None if modalities is None else list(modalities)

    def __call__(self, features_by_split: FeaturesBySplit) -> TaskResult:
        """Measure the split -> ``{'presence': {...}}`` and its counts."""
        data = get_split(features_by_split, self.split)
        labels = get_field(data, self.label_key, self.split).astype(np.int64)
        if not data.get('present'):
            raise KeyError(f"split {self.split!r} has no 'present' flags; the presence metrics need them")
        codes, names = presence_patterns(data['present'], self.modalities)
        empty = np.isin(codes, [k for k, name in enumerate(names) if name == NO_MODALITY])
        with_empty, _ = presence_gap(data['features'], labels, codes, similarity=self.similarity)
        labels = np.where(empty, -1, labels)
        gap, counts = presence_gap(data['features'], labels, codes, similarity=self.similarity)
        known = labels >= 0
        results = dict(gap, gap_with_empty=with_empty['gap'],
                       share=group_variance_share(data['features'], np.where(known, codes, -1)),
                       category_share=group_variance_share(data['features'], labels))
        sizes = np.bincount(codes[known], minlength=len(names))
        counts['patterns'] = {name: int(n) for name, n in zip(names, sizes) if n}
        counts['empty_products'] = int(empty.sum())
        return TaskResult({'presence': results}, counts)
