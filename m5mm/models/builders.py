"""Building model parts from a config dict (or taking an already built module), with defaults."""
from __future__ import annotations

import inspect
from typing import Any, Dict, Optional

from mmengine.registry import Registry
from torch import nn

from m5mm.utils.build import find_registered


def config_class(cfg: Any, registry: Registry) -> Optional[type]:
    """The class a config dict would build (None when it cannot tell)."""
    if not isinstance(cfg, dict):
        return None
    kind = cfg.get('type')
    if isinstance(kind, type):
        return kind
    return find_registered(registry, kind) if isinstance(kind, str) else None


def accepts(cls: Optional[type], arg: str) -> bool:
    """Whether ``cls.__init__`` takes the keyword ``arg`` (or **kwargs)."""
    if cls is None:
        return False
    params = inspect.signature(cls.__init__).parameters
    return arg in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def build(cfg: Any, registry: Registry, what: str, defaults: Optional[Dict[str, Any]] = None) -> nn.Module:
    """A module from ``cfg`` (a config dict or an already built module).

    ``defaults`` are passed only when the class accepts them and ``cfg`` does not set them.
    """
    if isinstance(cfg, nn.Module):
        return cfg
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'{what} must be a config dict with a "type" key or a built nn.Module, got {cfg!r}')
    cls = config_class(cfg, registry)
    default_args = {k: v for k, v in (defaults or {}).items() if k not in cfg and accepts(cls, k)}
    return registry.build(cfg, default_args=default_args or None)
