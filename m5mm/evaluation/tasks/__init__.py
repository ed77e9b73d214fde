"""Downstream task runners (TASKS registry) and helpers to run them and print their results."""
from .classification_task import ClassificationTask
from .clustering_task import ClusteringTask
from .cross_modal_retrieval_task import CrossModalRetrievalTask
from .retrieval_task import RetrievalTask
from .runner import format_results, run_tasks
from .task_result import TaskResult

__all__ = ['ClassificationTask', 'ClusteringTask', 'CrossModalRetrievalTask', 'RetrievalTask',
           'TaskResult', 'format_results', 'run_tasks']
