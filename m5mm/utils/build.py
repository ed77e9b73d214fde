"""Building objects from config dicts: registered names only, with helpful errors.

mmengine's ``build_from_cfg`` does the work; this wrapper first checks that ``type`` is a name
registered in the registry or its ancestors (naming the registry, the closest registered names
and the plugins otherwise) and that every key of the config is an argument of the class (naming
the closest argument).

Only registered names are built: mmengine's ``Registry.get`` falls back to importing any dotted
string (``type='os.system'``), which would let a config override run code. :func:`find_registered`
never imports anything but the registries' own ``locations``; modules named in a config file's
``custom_imports`` register their classes and are built like any other.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Iterable, List, Optional

from mmengine.registry import Registry, build_from_cfg


class UnknownModuleError(KeyError):
    """A config names a ``type`` that no registry knows."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ConfigKeyError(TypeError):
    """A config passes a key the built class does not accept."""


def closest_names(name: str, candidates: Iterable[str], n: int = 3) -> List[str]:
    """The registered names most similar to ``name`` (case-insensitive)."""
    candidates = list(candidates)
    lowered = {c.lower(): c for c in candidates}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.4)
    return [lowered[m] for m in matches]


def _ancestors(registry: Registry) -> List[Registry]:
    chain, reg = [], registry
    while reg is not None:
        chain.append(reg)
        reg = reg.parent
    return chain


def find_registered(registry: Registry, name: str) -> Optional[type]:
    """The class registered as ``name`` (``Name`` or ``scope.Name``) in ``registry`` or an ancestor, else None.

    Unlike ``Registry.get`` this never imports a module named by ``name``.
    """
    if not isinstance(name, str):
        raise TypeError(f'a registry key must be a string, got {type(name).__name__}')
    scope, key = Registry.split_scope_key(name)
    for reg in _ancestors(registry):
        reg.import_from_location()
        if (scope is None or scope == reg.scope) and key in reg.module_dict:
            return reg.module_dict[key]
    return None


def _all_names(registry: Registry) -> List[str]:
    names, reg = [], registry
    while reg is not None:
        reg.import_from_location()
        names.extend(reg.module_dict)
        reg = reg.parent
    return names


def unknown_type_message(registry: Registry, type_name: str) -> str:
    from m5mm.utils.plugins import describe_plugins, failed_plugins_hint
    close = closest_names(type_name.split('.')[-1], _all_names(registry))
    hint = f' Did you mean: {", ".join(close)}?' if close else ''
    return (f'{type_name!r} is not registered in the m5mm {registry.name!r} registry.{hint} '
            f'Run `python tools/list_modules.py {registry.name}` to see every name; '
            f'{describe_plugins()}.{failed_plugins_hint()}')


def check_arguments(obj_cls: type, cfg: dict) -> None:
    """Raise :class:`ConfigKeyError` when ``cfg`` has keys ``obj_cls`` does not accept."""
    target = obj_cls.__init__ if inspect.isclass(obj_cls) else obj_cls
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if n != 'self' and p.kind in (
        inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for key in cfg:
        if key in ('type', '_scope_') or key in accepted:
            continue
        close = closest_names(key, accepted, n=1)
        hint = f' Did you mean {close[0]!r}?' if close else ''
        raise ConfigKeyError(f'{obj_cls.__name__} got an unknown config key {key!r}.{hint} '
                             f'Accepted keys: {", ".join(accepted)}.')


def build_with_hints(cfg: Any, registry: Registry, default_args: Optional[dict] = None) -> Any:
    """``build_from_cfg`` with clear errors for unknown types and unknown keys."""
    from m5mm.utils.plugins import load_plugins
    load_plugins()
    if isinstance(cfg, dict) and '_scope_' in cfg:
        scopes = [reg.scope for reg in _ancestors(registry)]
        if cfg['_scope_'] not in scopes:
            raise UnknownModuleError(f'_scope_={cfg["_scope_"]!r} is not a scope of the m5mm {registry.name!r} '
                                     f'registry (scopes: {", ".join(scopes)})')
    if isinstance(cfg, dict) and isinstance(cfg.get('type'), str):
        obj_cls = find_registered(registry, cfg['type'])
        if obj_cls is None:
            raise UnknownModuleError(unknown_type_message(registry, cfg['type']))
        merged = dict(cfg)
        for key, value in (default_args or {}).items():
            merged.setdefault(key, value)
        check_arguments(obj_cls, merged)
        cfg = dict(cfg, type=obj_cls)   # mmengine never looks the string up (and never imports it)
    elif isinstance(cfg, dict) and 'type' in cfg and not callable(cfg['type']):
        raise UnknownModuleError(f'{registry.name} config has an invalid type {cfg["type"]!r}')
    return build_from_cfg(cfg, registry, default_args)
