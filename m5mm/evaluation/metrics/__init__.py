"""Retrieval, cross-modal retrieval, classification and clustering metrics (plain functions)."""
from .classification import topk_accuracy
from .clustering import ari_score, clustering_scores, contingency_table, nmi_score, purity_score
from .cross_modal import cross_modal_retrieval
from .retrieval import retrieval_metrics

__all__ = ['ari_score', 'clustering_scores', 'contingency_table', 'cross_modal_retrieval', 'nmi_score',
           'purity_score', 'retrieval_metrics', 'topk_accuracy']
