"""Cross-modal retrieval between two modalities' features of the same products."""
from __future__ import annotations

from typing import Optional, Sequence

from m5mm.registry import TASKS

from ..metrics.cross_modal import cross_modal_retrieval
from .split_access import FeaturesBySplit, get_field, get_split
from .task_result import TaskResult


@TASKS.register_module()
class CrossModalRetrievalTask:
    """Cross-modal retrieval: query with one modality, rank another (Recall@K, mAP).

    ``task(features_by_split) -> TaskResult({'retrieval_<query>2<gallery>': {'R@K': .., 'mAP': ..}},
    counts={'num_queries': .., 'num_evaluated': ..})``.

    Needs per-modality features (``extract_features(..., keep_modalities=True)``); products
    that lack a modality are left out on that side.

    Args:
        query_modality, gallery_modality: e.g. 'text' and 'image'.
        query_split: split of the queries; gallery_split: of the gallery (default: same).
        positive: 'id' (the same product) or 'label' (same ``label_key``, e.g. instance).
        ks, similarity: see :func:`m5mm.evaluation.cross_modal_retrieval`.

    Example config: ``dict(type='CrossModalRetrievalTask', query_modality='text', gallery_modality='image')``.
    """

    def __init__(self, *, query_modality: str, gallery_modality: str, query_split: str = 'test',
                 gallery_split: Optional[str] = None, positive: str = 'id', label_key: str = 'instance',
                 ks: Sequence[int] = (1, 5, 10), similarity: str = 'cosine') -> None:
        self.query_modality = query_modality
        self.gallery_modality = gallery_modality
        self.query_split = query_split
        self.gallery_split = gallery_split or query_split
        self.positive = positive
        self.label_key = label_key
        self.kwargs = dict(ks=tuple(ks), similarity=similarity)

    def _side(self, features_by_split: FeaturesBySplit, split: str, modality: str):
        data = get_split(features_by_split, split)
        per_modality = data.get('modality_features', {})
        if modality not in per_modality:
            raise KeyError(f'split {split!r} has no {modality!r} features (it has {sorted(per_modality)}); '
                           'extract them with extract_features(..., keep_modalities=True)')
        labels = get_field(data, self.label_key, split) if self.positive == 'label' else None
        return per_modality[modality], data['ids'], labels, data.get('present', {}).get(modality)

    def __call__(self, features_by_split: FeaturesBySplit) -> TaskResult:
        """Rank the gallery modality for each query -> Recall@K and mAP, and the query counts."""
        q_x, q_ids, q_lab, q_pr = self._side(features_by_split, self.query_split, self.query_modality)
        g_x, g_ids, g_lab, g_pr = self._side(features_by_split, self.gallery_split, self.gallery_modality)
        out = cross_modal_retrieval(q_x, g_x, query_ids=q_ids, gallery_ids=g_ids, query_labels=q_lab,
                                    gallery_labels=g_lab, positive=self.positive, query_present=q_pr,
                                    gallery_present=g_pr, **self.kwargs)
        counts = {key: out.pop(key) for key in ('num_queries', 'num_evaluated')}
        return TaskResult({f'retrieval_{self.query_modality}2{self.gallery_modality}': out}, counts)
