"""Experiment trackers through Accelerate (``log_with``): TensorBoard, W&B, MLflow, Aim ... as a config value.

Config keys::

    log_with = 'tensorboard'        # or 'wandb', 'mlflow', 'aim', ... a list of them, or None (no tracker)
    tracker_cfg = dict(project_name='m5mm', init_kwargs=dict(wandb=dict(entity='my-team')))

Trackers that write files (TensorBoard, Aim) write under ``WORK_DIR/trackers`` (TensorBoard:
``WORK_DIR/trackers/<project_name>/``). The tracker receives the resolved config as flat
hyper-parameters, every ``metrics.jsonl`` row (as ``train/<key>``) and the evaluation results (as
``eval/<task>/<metric>``). A resumed TensorBoard run hides the events of the steps it trains again.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

from accelerate import Accelerator

from m5mm.checkpoint.run_config import flatten
from m5mm.utils.accelerator import TRACKER_DIR  # noqa: F401 (re-exported)
from m5mm.utils.config import ConfigError

DEFAULT_PROJECT = 'm5mm'


def tracker_names(log_with: Union[None, str, List[str]]) -> Optional[List[str]]:
    """``log_with`` as a list of tracker names (None: no tracker).

    Raises:
        ConfigError: a name Accelerate does not know, or a tracker whose package is not installed
            (Accelerate would skip it silently).
    """
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS, get_available_trackers
    if log_with in (None, '', [], ()):
        return None
    names = [log_with] if isinstance(log_with, str) else list(log_with)
    if not all(isinstance(n, str) for n in names):
        raise ConfigError(f'log_with must be a tracker name or a list of names, got {log_with!r}')
    available = {str(t) for t in get_available_trackers()}
    for name in names:
        if name not in LOGGER_TYPE_TO_CLASS:
            raise ConfigError(f'log_with: unknown tracker {name!r}; Accelerate knows {sorted(LOGGER_TYPE_TO_CLASS)}')
        if name not in available:
            raise ConfigError(f'log_with: the {name!r} tracker is not installed (pip install {name}), or remove it '
                              f'from log_with')
    return names


def flat_hparams(values: Dict[str, Any]) -> Dict[str, Any]:
    """Nested ``values`` as ``{'optim.optimizer.lr': 0.001, ...}`` of bool/int/float/str/None (others as text)."""
    return {k: v if v is None or isinstance(v, (bool, int, float, str)) else str(v) for k, v in flatten(values).items()}


def start_trackers(accelerator: Accelerator, *, tracker_cfg: Optional[dict], config: Dict[str, Any],
                   resumed_step: int) -> None:
    """Start the accelerator's trackers (no-op without ``log_with``) with the run's config."""
    if not accelerator.log_with or accelerator.trackers:
        return
    tracker_cfg = dict(tracker_cfg or {})
    init_kwargs = {name: dict(kwargs) for name, kwargs in dict(tracker_cfg.get('init_kwargs') or {}).items()}
    if resumed_step:   # events of the steps trained again replace the earlier ones
        init_kwargs.setdefault('tensorboard', {}).setdefault('purge_step', resumed_step + 1)
    accelerator.init_trackers(tracker_cfg.get('project_name', DEFAULT_PROJECT), config=flat_hparams(config),
                              init_kwargs=init_kwargs)


def finish_trackers(accelerator: Accelerator) -> None:
    """Flush and close the trackers (a later :func:`start_trackers` starts them again)."""
    for tracker in accelerator.trackers:
        tracker.finish()
    accelerator.trackers = []


def log_scalars(accelerator: Accelerator, values: Dict[str, Any], *, step: int, prefix: str) -> None:
    """Send the numbers of (nested) ``values`` to the trackers as ``<prefix>/<key>`` (main process only)."""
    if not accelerator.trackers:
        return
    flat = {f'{prefix}/{k.replace(".", "/")}': v for k, v in flat_hparams(values).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if flat:
        accelerator.log(flat, step=step)
