"""Retrieval, cross-modal retrieval, classification and clustering metrics (METRICS registry)."""
from .classification import ClassificationMetric, topk_accuracy
from .clustering import (ClusteringMetric, ari_score, clustering_scores, contingency_table, nmi_score,
                         purity_score)
from .cross_modal import CrossModalRetrievalMetric, cross_modal_retrieval
from .graded_retrieval import graded_retrieval_metrics
from .retrieval import RetrievalMetric, retrieval_metrics

__all__ = ['ClassificationMetric', 'ClusteringMetric', 'CrossModalRetrievalMetric', 'RetrievalMetric',
           'ari_score', 'clustering_scores', 'contingency_table', 'cross_modal_retrieval',
           'graded_retrieval_metrics', 'nmi_score', 'purity_score', 'retrieval_metrics', 'topk_accuracy']
