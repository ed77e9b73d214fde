"""The resolved config of one benchmark cell: method config, modality subset, size, seed, budget."""
from __future__ import annotations

import hashlib
import inspect
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from mmengine.config import Config

from m5mm.registry import SCHEDULERS
from m5mm.utils.build import find_registered
from m5mm.utils.config import load_config

from .budget import Budget
from .cells import Cell
from .methods import DEFAULT_CONFIG_DIR, method_config
from .sizes import apply_size, get_size
from .subset import restrict_modalities

#: The hooks of a benchmark cell: metrics and checkpoints (for resuming an interrupted cell);
#: no TensorBoard, no progress bar, no evaluation hook (the runner evaluates every task itself).
CELL_HOOKS = [dict(type='MetricsLoggerHook', interval=1), dict(type='CollapseMonitorHook'),
              dict(type='CheckpointHook', by_epoch=True, max_keep=1)]


def cell_config(cell: Cell, *, data_root: str, size: str = 'small',
                config_dir: Union[str, Path] = DEFAULT_CONFIG_DIR,
                cfg_options: Optional[Mapping[str, Any]] = None) -> Tuple[Config, Dict[str, Any]]:
    """The config of ``cell`` before the budget is applied (see :func:`apply_budget`).

    ``cfg_options`` (``--cfg-options``) apply to every cell alike, before the modality subset; the
    size preset does not overwrite them.

    Returns:
        The config and ``info``: ``config`` (the file it started from) and ``dropped_objectives``.
    """
    path = method_config(cell.method, cell.modalities, config_dir)
    cfg = load_config(str(path), {**dict(cfg_options or {}), 'data_root': str(data_root)})
    cfg, dropped = restrict_modalities(cfg, cell.modalities)
    cfg_dict = apply_size(cfg.to_dict(), get_size(size), keep=frozenset(cfg_options or {}))
    cfg_dict['seed'] = cell.seed
    cfg_dict['hooks'] = [dict(h) for h in CELL_HOOKS]
    cfg_dict['log_with'] = None   # no experiment tracker
    cfg_dict.pop('work_dir', None)
    return Config(cfg_dict), {'config': str(path), 'dropped_objectives': dropped}


def steps_per_epoch(cfg: Config) -> int:
    """Optimizer steps per epoch of a one-process run of ``cfg`` (as :class:`m5mm.engine.Trainer`
    counts them: full batches only when the split holds at least one)."""
    from m5mm.datasets.loaders import build_dataset
    loader = cfg.train_dataloader
    length = len(build_dataset(loader.dataset))
    batch = int(loader.batch_size)
    batches = length // batch if length >= batch else math.ceil(length / batch)
    if batches == 0:
        raise ValueError(f'the train split of {loader.dataset.get("data_root")} is empty')
    return math.ceil(batches / int(cfg.optim.get('accumulation_steps', 1)))


def apply_budget(cfg: Config, budget: Budget, steps: int) -> Config:
    """``cfg`` with ``train_cfg.max_epochs`` (and for a steps budget the scheduler's length) set
    from ``budget``, given ``steps`` optimizer steps per epoch."""
    cfg_dict = cfg.to_dict()
    cfg_dict.setdefault('train_cfg', {})['max_epochs'] = budget.max_epochs(steps)
    scheduler = cfg_dict.get('scheduler')
    if budget.kind == 'steps' and scheduler:
        cls = find_registered(SCHEDULERS, scheduler['type']) if isinstance(scheduler.get('type'), str) else None
        if cls is not None and 'total_steps' in inspect.signature(cls.__init__).parameters:
            scheduler['total_steps'] = max(1, budget.value)
    return Config(cfg_dict)


def config_fingerprint(cfg: Config) -> str:
    """A hash of the resolved config, to tell whether a stored result was made with this setup."""
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe(cfg: Config) -> List[str]:
    """Short facts about a cell config for the log: model, fusion, modalities, objectives."""
    model = cfg.model
    objectives = model.get('objectives')
    modalities = model.get('modalities') or [m for m, e in model.encoders.items() if e is not None]
    return [f"model {model.get('type')}", f"fusion {(model.get('fusion') or {}).get('type')}",
            f"modalities {list(modalities)}",
            f"objectives {'derived' if objectives is None else [n for n, v in objectives.items() if v is not None]}"]
