"""Clustering: k-means on the features (k = number of categories) scored by NMI, purity and ARI."""
from __future__ import annotations

from typing import Optional

import numpy as np

from m5mm.registry import TASKS

from ..kmeans import KMeans
from ..metrics.clustering import clustering_scores
from ..topk import as_feature_tensor, l2_normalize
from .split_access import FeaturesBySplit, get_field, get_split
from .task_result import TaskResult


@TASKS.register_module()
class ClusteringTask:
    """k-means on a split's features, scored against the categories by NMI, purity and ARI.

    ``task(features_by_split) -> TaskResult({'clustering': {'NMI': .., 'purity': .., 'ARI': ..}})``.

    Samples with an unknown label (< 0) are left out.

    Args:
        split: the split clustered. label_key: the true labels.
        num_clusters: k; None = the number of distinct labels.
        n_init, max_iter, seed: k-means settings (see :class:`m5mm.evaluation.KMeans`).
        normalize: L2-normalise the features first (spherical-style k-means).

    Example config: ``dict(type='ClusteringTask', split='test', n_init=3)``.
    """

    #: what ``tools/test.py --tasks`` and ``EvaluationHook`` call it, the test-data splits it reads, and the
    #: feature sets it scores (:data:`m5mm.evaluation.evaluate.INPUTS`)
    task_name = 'clustering'
    data_splits = ('query', 'gallery')
    inputs = ('test',)

    def __init__(self, *, split: str = 'test', label_key: str = 'category',
                 num_clusters: Optional[int] = None,
                 n_init: int = 3, max_iter: int = 100, seed: int = 0, normalize: bool = False) -> None:
        self.split = split
        self.label_key = label_key
        self.num_clusters = num_clusters
        self.kmeans = dict(n_init=n_init, max_iter=max_iter, seed=seed)
        self.normalize = normalize

    def __call__(self, features_by_split: FeaturesBySplit) -> TaskResult:
        """Cluster the split and score the clusters against the labels."""
        data = get_split(features_by_split, self.split)
        labels = get_field(data, self.label_key, self.split)
        keep = labels >= 0
        x = as_feature_tensor(np.asarray(data['features'])[keep], 'features')
        if self.normalize:
            x = l2_normalize(x)
        k = self.num_clusters or len(np.unique(labels[keep]))
        clusters = KMeans(num_clusters=k, **self.kmeans).fit_predict(x)
        return TaskResult({'clustering': clustering_scores(labels[keep], clusters.numpy())})
