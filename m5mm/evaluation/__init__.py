"""Downstream evaluation: retrieval, classification and clustering metrics, task runners,
feature export and a product search index (see docs/evaluation.md)."""
from .features import combine_modalities, extract_features, load_features, save_features, select_rows
from .kmeans import KMeans
from .linear_probe import LinearProbe
from .metrics import (ari_score, clustering_scores, contingency_table, cross_modal_retrieval, nmi_score,
                      purity_score, retrieval_metrics, topk_accuracy)
from .modality_mask import drop_modalities
from .search import SearchIndex, SearchResult
from .tasks import (ClassificationTask, ClusteringTask, CrossModalRetrievalTask, RetrievalTask, TaskResult,
                    format_results, run_tasks)
from .topk import exact_topk

__all__ = ['ClassificationTask', 'ClusteringTask', 'CrossModalRetrievalTask', 'KMeans', 'LinearProbe',
           'RetrievalTask', 'SearchIndex', 'SearchResult', 'TaskResult', 'ari_score', 'clustering_scores',
           'combine_modalities',
           'contingency_table', 'cross_modal_retrieval', 'drop_modalities', 'exact_topk', 'extract_features',
           'format_results', 'load_features', 'nmi_score', 'purity_score', 'retrieval_metrics', 'run_tasks',
           'save_features', 'select_rows', 'topk_accuracy']
