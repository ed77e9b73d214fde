"""Comparing the config a checkpoint was trained with to the config of the run that resumes it.

Checkpoints store the resolved config as JSON (``config.json``), which is compared here and never
executed. A resume may change how a run is executed (workers, hooks, learning rate ...): the
changes are recorded. Changes to what is trained — the model, the training data and its order —
would make the resumed run another experiment, so they are refused unless explicitly allowed.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

#: Config entries that define the experiment (a key and everything under it).
RUN_DEFINING = ('model', 'train_dataloader.dataset', 'train_dataloader.batch_size', 'train_dataloader.drop_last',
                'seed', 'data_root', 'on_bad_line')
#: Entries that never matter on resume.
IGNORED = ('work_dir', 'load_from')


def to_jsonable(value: Any) -> Any:
    """``value`` with tuples as lists, classes and functions by dotted name and other objects by ``repr``."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, '__qualname__') and hasattr(value, '__module__'):
        return f'{value.__module__}.{value.__qualname__}'
    return repr(value)


def config_json(cfg: Any) -> Dict[str, Any]:
    """The resolved config as a JSON-able dict (what checkpoints store as ``config.json``)."""
    data = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg)
    return to_jsonable({k: v for k, v in data.items() if not k.startswith('_')})


def flatten(value: Any, prefix: str = '') -> Dict[str, Any]:
    """A nested dict as ``{'a.b.c': leaf, ...}`` (lists and empty dicts are leaves)."""
    if isinstance(value, dict) and value:
        out: Dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f'{prefix}.{key}' if prefix else key))
        return out
    return {prefix: value}


def _under(key: str, roots) -> bool:
    return any(key == root or key.startswith(root + '.') for root in roots)


def config_changes(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    """``['optim.optimizer.lr: 0.001 -> 0.0005', ...]`` between two :func:`config_json` dicts."""
    before, after = flatten(old), flatten(new)
    changes = []
    for key in sorted(set(before) | set(after)):
        if _under(key, IGNORED) or before.get(key, KeyError) == after.get(key, KeyError):
            continue
        show = (lambda v: 'unset' if v is KeyError else json.dumps(v)[:80])
        changes.append(f'{key}: {show(before.get(key, KeyError))} -> {show(after.get(key, KeyError))}')
    return changes


def run_defining(changes: List[str]) -> List[str]:
    """The changes among ``changes`` that alter the model or the training data."""
    return [c for c in changes if _under(c.split(':', 1)[0], RUN_DEFINING)]
