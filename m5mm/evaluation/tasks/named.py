"""Tasks by the name ``tools/test.py --tasks`` and ``EvaluationHook(tasks=...)`` give them.

A registered task class that declares ``task_name`` can be named: it also declares the splits of the test data it
reads (``data_splits``: a task whose split is empty is skipped during training) and the feature sets it scores
(``inputs``, see :data:`m5mm.evaluation.evaluate.INPUTS`). There is no table to extend: registering such a class
(a plugin's too) makes it a task name.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from m5mm.registry import TASKS

from .classification_task import SOURCES as CLASSIFICATION_SOURCES


def named_tasks() -> Dict[str, type]:
    """``{task_name: task class}`` of every registered task that declares a name."""
    return {cls.task_name: cls for cls in TASKS.module_dict.values() if getattr(cls, 'task_name', None)}


def check_tasks(tasks: Sequence[str], *, classification: Optional[str] = None,
                where: str = 'tasks') -> List[type]:
    """The task classes of ``tasks``; an unknown name or classification source is a clear error (one check for
    ``tools/test.py``, :func:`m5mm.evaluation.evaluate.evaluate_model` and ``EvaluationHook``)."""
    known = named_tasks()
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise ValueError(f'{where}: unknown tasks {unknown}; choose from {sorted(known)}')
    if classification is not None and classification not in CLASSIFICATION_SOURCES:
        raise ValueError(f'classification must be one of {CLASSIFICATION_SOURCES}, got {classification!r}')
    return [known[t] for t in tasks]


def task_type(cls: type) -> str:
    """The name ``cls`` is registered under in ``TASKS`` (what a task config's ``type`` says)."""
    return next(name for name, registered in TASKS.module_dict.items() if registered is cls)
