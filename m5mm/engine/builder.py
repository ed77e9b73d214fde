"""Building the pieces a run needs from a config: work dir, imports, hooks, model."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from mmengine.config import Config
from torch import nn

from m5mm.models.builders import build_model as models_build_model
from m5mm.registry import HOOKS
from m5mm.utils.config import ConfigError
from m5mm.utils.plugins import import_config_modules  # noqa: F401 (re-exported: its 0.2 home)

#: The hooks of a config that names none.
DEFAULT_HOOKS = dict(metrics=dict(type='MetricsLoggerHook'), progress=dict(type='ProgressBarHook'),
                     checkpoint=dict(type='CheckpointHook'), summary=dict(type='RunSummaryHook'))
#: Hooks that were replaced, with what replaces them.
REPLACED_HOOKS = {'TensorboardLoggerHook': "log_with = 'tensorboard' (Accelerate's trackers, see docs/training.md)"}


def resolve_work_dir(cfg: Config, config_path: Optional[str], work_dir: Optional[str]) -> Path:
    """``--work-dir`` > ``cfg.work_dir`` > ``work_dirs/<config name>``."""
    if work_dir:
        return Path(work_dir)
    if cfg.get('work_dir'):
        return Path(cfg.work_dir)
    name = Path(config_path).stem if config_path else 'run'
    return Path('work_dirs') / name


def hook_configs(cfg: Config) -> Dict[str, dict]:
    """The hook configs of a run by hook key: ``default_hooks`` (a dict by name, so a leaf config overrides or
    drops -- ``name=None`` -- one hook; the name is the key) followed by ``custom_hooks`` (a list, keyed by
    ``type``, ``Type#2`` for a second one).

    A config that sets ``hooks`` (a list, the older form) gets exactly that list (plus ``custom_hooks``);
    its ``default_hooks`` are not used.
    """
    if cfg.get('hooks') is not None:
        if not isinstance(cfg.hooks, (list, tuple)):
            raise ConfigError(f'hooks must be a list of hook configs (or use default_hooks, a dict by name), got '
                              f'{type(cfg.hooks).__name__}')
        base: Dict[str, Any] = {}
        listed = list(cfg.hooks)
    else:
        defaults = cfg.get('default_hooks', DEFAULT_HOOKS)
        if not isinstance(defaults, dict):
            raise ConfigError(f'default_hooks must be a dict of hook configs by name, got {type(defaults).__name__}')
        missing = [name for name, h in defaults.items() if h is not None and 'type' not in h]
        if missing:
            raise ConfigError(f'default_hooks.{missing[0]} has no type (a leaf config can only change a hook '
                              f'that a base config defines); default_hooks: {sorted(defaults)}')
        base = {name: h for name, h in defaults.items() if h is not None}
        listed = []
    custom = cfg.get('custom_hooks') or []
    if not isinstance(custom, (list, tuple)):
        raise ConfigError(f'custom_hooks must be a list of hook configs, got {type(custom).__name__}')
    where_base = 'hooks' if cfg.get('hooks') is not None else 'default_hooks'
    for where, hooks in ((where_base, [*base.values(), *listed]), ('custom_hooks', custom)):
        bad = next((h for h in hooks if not isinstance(h, dict)), None)
        if bad is not None:
            raise ConfigError(f'{where} holds {bad!r}, which is not a hook config (a dict with a type); write hooks '
                              f'in a config file as dict(type=..., ...)')
    keyed = {name: dict(h) for name, h in base.items()}
    for h in [*listed, *custom]:
        keyed[_free_key(keyed, str(h.get('type')))] = dict(h)
    return keyed


def _free_key(taken: Dict[str, Any], name: str) -> str:
    """``name``, or ``name#2``, ``name#3``, ... when taken."""
    key, n = name, 1
    while key in taken:
        n += 1
        key = f'{name}#{n}'
    return key


def build_hooks(cfg: Config) -> list:
    """The run's hooks (:func:`hook_configs`) sorted by priority (loggers first, checkpoints last); each knows its
    key (``hook.key``: its ``default_hooks`` name, or its type for a listed one), which keys its checkpointed state."""
    hook_cfgs = hook_configs(cfg)
    for hook_cfg in hook_cfgs.values():
        if hook_cfg.get('type') in REPLACED_HOOKS:
            raise ConfigError(f'{hook_cfg["type"]} no longer exists: use {REPLACED_HOOKS[hook_cfg["type"]]}')
    hooks = []
    for key, hook_cfg in hook_cfgs.items():
        hook = HOOKS.build(hook_cfg)
        hook.key = key
        hooks.append(hook)
    return sorted(hooks, key=lambda h: h.priority)


def build_model(model_cfg: dict, data_meta: Optional[dict] = None) -> nn.Module:
    """Build a model, giving it the dataset's ``meta`` (tokenizer ids, classes), with its
    ``grad_checkpointing`` / ``compile`` switches (:func:`m5mm.models.builders.build_model`)."""
    return models_build_model(model_cfg, data_meta)


def keyed_hooks(hooks: list) -> Dict[str, Any]:
    """Hooks by the key of their checkpointed state: the config key :func:`build_hooks` gave them (a hook built
    elsewhere: its class name, ``Name#2`` for a second one)."""
    keyed: Dict[str, Any] = {}
    for hook in hooks:
        keyed[_free_key(keyed, getattr(hook, 'key', None) or type(hook).__name__)] = hook
    return keyed


def hook_for_state(hooks_by_key: Dict[str, Any], key: str) -> Optional[Any]:
    """The hook that restores the checkpointed state saved under ``key``; a checkpoint of m5mm 0.2 keyed hook
    states by class name (``MetricsLoggerHook``, ``Name#2``), which maps to the n-th hook of that class."""
    if key in hooks_by_key:
        return hooks_by_key[key]
    name, _, n = key.partition('#')
    same_class = [hook for hook in hooks_by_key.values() if type(hook).__name__ == name]
    index = int(n) - 1 if n.isdigit() else 0
    return same_class[index] if index < len(same_class) else None
