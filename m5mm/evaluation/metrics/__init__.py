"""Retrieval, cross-modal retrieval, graded retrieval, classification, clustering and presence metrics
(plain functions)."""
from .classification import topk_accuracy
from .clustering import ari_score, clustering_scores, contingency_table, nmi_score, purity_score
from .cross_modal import cross_modal_retrieval
from .graded_retrieval import graded_retrieval_metrics
from .presence import group_variance_share, presence_gap, presence_patterns
from .retrieval import retrieval_metrics

__all__ = ['ari_score', 'clustering_scores', 'contingency_table', 'cross_modal_retrieval', 'graded_retrieval_metrics',
           'group_variance_share', 'nmi_score', 'presence_gap', 'presence_patterns', 'purity_score',
           'retrieval_metrics', 'topk_accuracy']
