"""Partial-query retrieval: queries with only some of their modalities against the full gallery."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from m5mm.registry import TASKS

from ..features import select_rows
from ..metrics.retrieval import retrieval_metrics
from .split_access import FeaturesBySplit, get_field, get_split
from .task_result import TaskResult

DEFAULT_SUBSETS = (('text',), ('image',), ('image', 'text'))
DEFAULT_REFERENCE = ('text',)


def subset_name(modalities: Sequence[str]) -> str:
    """``('image', 'text')`` -> ``'image+text'`` (the modalities in the given order)."""
    return '+'.join(modalities)


def subset_split(split: str, modalities: Sequence[str]) -> str:
    """The name of ``split`` encoded with only ``modalities`` present: ``'query@image+text'``."""
    return f'{split}@{subset_name(modalities)}'


def with_all_present(data: Dict, modalities: Sequence[str], split: str) -> Dict:
    """The rows of ``data`` that have every modality of ``modalities`` present."""
    present = data.get('present') or {}
    missing = [m for m in modalities if m not in present]
    if missing:
        raise KeyError(f'split {split!r} has no presence flags for {missing}; it has {sorted(present)}')
    keep = np.logical_and.reduce([np.asarray(present[m], dtype=bool) for m in modalities])
    return select_rows(data, keep)


@TASKS.register_module()
class PartialQueryRetrievalTask:
    """Coarse (same category) retrieval with partial queries against the full, mixed gallery.

    For each subset S of ``subsets`` the split ``<query_split>@<S>`` holds the query products encoded
    with only S present (the others dropped at encode time, :func:`m5mm.evaluation.partial_queries`);
    queries that lack a modality of S are left out (counted). Each is ranked against
    ``gallery_split`` as it is (every product with all its modalities):
    ``partial_<S>: {'mAP@1': .., 'mAP@10': ..}``.

    The reference ``partial_<R>_ref`` (R = ``reference``, text by default) ranks the same R-only
    queries against the gallery encoded with only R (``<gallery_split>@<R>``; gallery products
    without R left out): how well R finds products in an index of R-only vectors, where no product
    stands out by its presence pattern. ``partial_ratio`` = ``partial_<R>`` / ``partial_<R>_ref``
    per metric (the goal: >= 0.8).

    Args:
        subsets: the query modality subsets. reference: the reference subset (None: no reference).
        query_split, gallery_split: base split names. label_key: the category field.
        ks: mAP cut-offs. similarity: 'dot' (as :class:`RetrievalTask`) or 'cosine'.

    Example config: ``dict(type='PartialQueryRetrievalTask', subsets=[['text'], ['image', 'text']])``.
    """

    #: what ``tools/test.py --tasks`` and ``EvaluationHook`` call it, the test-data splits it reads, and the
    #: feature sets it scores (:data:`m5mm.evaluation.evaluate.INPUTS`)
    task_name = 'partial_query'
    data_splits = ('query', 'gallery')
    inputs = ('test', 'partial_queries')

    def __init__(self, *, subsets: Sequence[Sequence[str]] = DEFAULT_SUBSETS,
                 reference: Optional[Sequence[str]] = DEFAULT_REFERENCE, query_split: str = 'query',
                 gallery_split: str = 'gallery', label_key: str = 'category', ks: Sequence[int] = (1, 10),
                 similarity: str = 'dot') -> None:
        self.subsets: Tuple[Tuple[str, ...], ...] = tuple(tuple(s) for s in subsets)
        if not self.subsets or any(not s for s in self.subsets):
            raise ValueError(f'subsets must be non-empty lists of modalities, got {subsets}')
        self.reference = None if reference is None else tuple(reference)
        if self.reference is not None and self.reference not in self.subsets:
            raise ValueError(f'reference {self.reference} must be one of the subsets {self.subsets}')
        self.query_split = query_split
        self.gallery_split = gallery_split
        self.label_key = label_key
        self.kwargs = dict(ks=tuple(ks), similarity=similarity)

    def _rank(self, query: Dict, gallery: Dict, split: str, gallery_name: str):
        """(mAP@K only, counts) of ``query`` against ``gallery``."""
        metrics, counts = retrieval_metrics(
            query['features'], gallery['features'], get_field(query, self.label_key, split),
            get_field(gallery, self.label_key, gallery_name), query_ids=query['ids'], gallery_ids=gallery['ids'],
            return_counts=True, **self.kwargs)
        return {k: v for k, v in metrics.items() if k.startswith('mAP@')}, dict(counts, num_gallery=len(gallery['ids']))

    def __call__(self, features_by_split: FeaturesBySplit) -> TaskResult:
        """Rank every subset's queries -> ``{'partial_<S>': {...}, 'partial_<R>_ref': .., 'partial_ratio': ..}``."""
        gallery = get_split(features_by_split, self.gallery_split)
        results, counts = {}, {}
        for subset in self.subsets:
            split = subset_split(self.query_split, subset)
            data = get_split(features_by_split, split)
            query = with_all_present(data, subset, split)
            name = f'partial_{subset_name(subset)}'
            results[name], counts[name] = self._rank(query, gallery, split, self.gallery_split)
            counts[name]['num_lacking'] = len(data['ids']) - len(query['ids'])
            if subset == self.reference:
                ref_split = subset_split(self.gallery_split, subset)
                ref_gallery = with_all_present(get_split(features_by_split, ref_split), subset, ref_split)
                ref = f'{name}_ref'
                results[ref], counts[ref] = self._rank(query, ref_gallery, split, ref_split)
                results['partial_ratio'] = {k: v / results[ref][k] if results[ref][k] else float('nan')
                                            for k, v in results[name].items()}
                counts['partial_ratio'] = dict(counts[name])
        return TaskResult(results, counts)
