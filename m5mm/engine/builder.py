"""Building the pieces a run needs from a config: work dir, imports, hooks, model."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from mmengine.config import Config
from torch import nn

from m5mm.models.builders import build_model as models_build_model
from m5mm.registry import HOOKS
from m5mm.utils.plugins import import_custom_modules, load_plugins

DEFAULT_HOOKS = [dict(type='MetricsLoggerHook'), dict(type='ProgressBarHook'), dict(type='CheckpointHook'),
                 dict(type='RunSummaryHook')]


def resolve_work_dir(cfg: Config, config_path: Optional[str], work_dir: Optional[str]) -> Path:
    """``--work-dir`` > ``cfg.work_dir`` > ``work_dirs/<config name>``."""
    if work_dir:
        return Path(work_dir)
    if cfg.get('work_dir'):
        return Path(cfg.work_dir)
    name = Path(config_path).stem if config_path else 'run'
    return Path('work_dirs') / name


def import_config_modules(cfg: Config) -> None:
    """Load installed plugins and the config's ``custom_imports``."""
    load_plugins()
    custom = cfg.get('custom_imports')
    if custom:
        import_custom_modules(list(custom.get('imports', [])), custom.get('allow_failed_imports', False))


def build_hooks(hook_cfgs: Optional[List[dict]]) -> list:
    """Hooks sorted by priority (loggers first, checkpoints last)."""
    hooks = [HOOKS.build(dict(h)) for h in (hook_cfgs if hook_cfgs is not None else DEFAULT_HOOKS)]
    return sorted(hooks, key=lambda h: h.priority)


def build_model(model_cfg: dict, data_meta: Optional[dict] = None) -> nn.Module:
    """Build a model, giving it the dataset's ``meta`` (tokenizer ids, classes), with its
    ``grad_checkpointing`` / ``compile`` switches (:func:`m5mm.models.builders.build_model`)."""
    return models_build_model(model_cfg, data_meta)


def keyed_hooks(hooks: list) -> Dict[str, Any]:
    """Hooks by a stable key for their checkpointed state: the class name (``Name#2`` for a second one)."""
    keyed: Dict[str, Any] = {}
    for hook in hooks:
        name = type(hook).__name__
        key, n = name, 1
        while key in keyed:
            n += 1
            key = f'{name}#{n}'
        keyed[key] = hook
    return keyed
