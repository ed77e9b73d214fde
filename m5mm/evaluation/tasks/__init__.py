"""Downstream task runners (TASKS registry) and helpers to run them and print their results."""
from .classification_task import ClassificationTask
from .clustering_task import ClusteringTask
from .cross_modal_retrieval_task import CrossModalRetrievalTask
from .partial_query_retrieval_task import PartialQueryRetrievalTask
from .presence_task import PresenceTask
from .retrieval_task import RetrievalTask
from .named import check_tasks, named_tasks
from .runner import format_results, run_tasks
from .task_result import TaskResult
from .text_query_retrieval_task import TextQueryRetrievalTask
from .zero_shot_task import ZeroShotClassificationTask

__all__ = ['ClassificationTask', 'ClusteringTask', 'CrossModalRetrievalTask', 'PartialQueryRetrievalTask',
           'PresenceTask', 'RetrievalTask', 'TaskResult', 'TextQueryRetrievalTask', 'ZeroShotClassificationTask',
           'check_tasks', 'format_results', 'named_tasks', 'run_tasks']
