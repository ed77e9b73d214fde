"""Building objects from config dicts with helpful errors.

mmengine's ``build_from_cfg`` does the work; this wrapper first checks that ``type`` is
known (naming the registry, the closest registered names and the plugins) and that every
key of the config is an argument of the class (naming the closest argument).
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
    if isinstance(cfg, dict) and isinstance(cfg.get('type'), str):
        obj_cls = registry.get(cfg['type'])
        if obj_cls is None:
            raise UnknownModuleError(unknown_type_message(registry, cfg['type']))
        merged = dict(cfg)
        for key, value in (default_args or {}).items():
            merged.setdefault(key, value)
        check_arguments(obj_cls, merged)
    return build_from_cfg(cfg, registry, default_args)
