"""Coarse (same category) and fine (same instance) retrieval from query and gallery features."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

from m5mm.registry import TASKS

from ..metrics.retrieval import DEFAULT_KS, retrieval_metrics
from .split_access import FeaturesBySplit, get_field, get_split
from .task_result import TaskResult

DEFAULT_LEVELS = {'coarse': 'category', 'fine': 'instance'}


@TASKS.register_module()
class RetrievalTask:
    """M5Product coarse (same category) and fine (same instance) retrieval: mAP@K, Prec@K, Recall@K and
    M5Prec@K (docs/evaluation.md).

    ``task(features_by_split) -> TaskResult({'retrieval_coarse': {...}, 'retrieval_fine': {...}},
    counts={'retrieval_coarse': {'num_queries': .., 'num_evaluated': .., ...}, ...})``.

    Args:
        query_split, gallery_split: split names in ``features_by_split``.
        levels: result name suffix -> label field (positives share that label).
        ks, similarity, no_positive, cutoff: see :func:`m5mm.evaluation.retrieval_metrics`.
        exclude_same_id: leave a gallery item with the query's id out of its ranking.

    Example config: ``dict(type='RetrievalTask', query_split='query', gallery_split='gallery')``.
    """

    #: what ``tools/test.py --tasks`` and ``EvaluationHook`` call it, the test-data splits it reads, and the
    #: feature sets it scores (:data:`m5mm.evaluation.evaluate.INPUTS`)
    task_name = 'retrieval'
    data_splits = ('query', 'gallery')
    inputs = ('test',)

    def __init__(self, *, query_split: str = 'query', gallery_split: str = 'gallery',
                 levels: Optional[Mapping[str, str]] = None, ks: Sequence[int] = DEFAULT_KS,
                 similarity: str = 'dot', no_positive: str = 'skip', cutoff: str = 'k',
                 exclude_same_id: bool = True) -> None:
        self.query_split = query_split
        self.gallery_split = gallery_split
        self.levels = dict(DEFAULT_LEVELS if levels is None else levels)
        self.kwargs = dict(ks=tuple(ks), similarity=similarity, no_positive=no_positive, cutoff=cutoff)
        self.exclude_same_id = exclude_same_id

    def __call__(self, features_by_split: FeaturesBySplit) -> TaskResult:
        """Run every level -> ``{'retrieval_<level>': {'mAP@K': .., 'Prec@K': .., 'Recall@K': .., 'M5Prec@K': ..}}``
        and its counts."""
        query = get_split(features_by_split, self.query_split)
        gallery = get_split(features_by_split, self.gallery_split)
        ids = dict(query_ids=query['ids'], gallery_ids=gallery['ids']) if self.exclude_same_id else {}
        results, counts = {}, {}
        for level, key in self.levels.items():
            name = f'retrieval_{level}'
            results[name], counts[name] = retrieval_metrics(
                query['features'], gallery['features'], get_field(query, key, self.query_split),
                get_field(gallery, key, self.gallery_split), return_counts=True, **ids, **self.kwargs)
        return TaskResult(results, counts)
