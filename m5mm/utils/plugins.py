"""Discovery of third-party m5mm plugins through the ``m5mm.plugins`` entry-point group.

A plugin package declares, in its ``setup.cfg``::

    [options.entry_points]
    m5mm.plugins =
        pointcloud = m5mm_pointcloud

Importing the named module registers its modules into m5mm's registries. Plugins are
loaded once per process, the first time m5mm builds anything from a config.
"""
from __future__ import annotations

import importlib
import logging
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Dict, List, Optional

logger = logging.getLogger('m5mm')

ENTRY_POINT_GROUP = 'm5mm.plugins'


@dataclass
class PluginStatus:
    """What happened when one plugin was imported."""

    name: str
    module: str
    distribution: Optional[str] = None
    version: Optional[str] = None
    loaded: bool = False
    error: Optional[str] = None
    registered: Dict[str, List[str]] = field(default_factory=dict)


_STATUS: Dict[str, PluginStatus] = {}
_DISCOVERED = False


def _registry_snapshot() -> Dict[str, set]:
    from m5mm import registry
    snapshot = {}
    for name, reg in registry.all_registries().items():
        reg.import_from_location()  # so core modules a plugin imports are not counted as its own
        snapshot[name] = set(reg.module_dict)
    return snapshot


def _import_plugin(name: str, module: str, dist: Optional[metadata.Distribution]) -> PluginStatus:
    status = PluginStatus(name=name, module=module,
                          distribution=dist.metadata['Name'] if dist else None,
                          version=dist.version if dist else None)
    before = _registry_snapshot()
    try:
        importlib.import_module(module)
    except Exception as exc:  # a broken plugin must not break runs that do not use it
        status.error = f'{type(exc).__name__}: {exc}'
        logger.warning('m5mm plugin %r (%s) failed to import: %s\n%s', name, module, status.error,
                       traceback.format_exc(limit=3))
        return status
    status.loaded = True
    after = _registry_snapshot()
    status.registered = {reg: sorted(after[reg] - before.get(reg, set()))
                         for reg in after if after[reg] - before.get(reg, set())}
    return status


def load_plugins(force: bool = False) -> Dict[str, PluginStatus]:
    """Import every installed plugin of the ``m5mm.plugins`` group (once per process).

    Returns:
        A mapping from plugin name to its :class:`PluginStatus`.
    """
    global _DISCOVERED
    if _DISCOVERED and not force:
        return _STATUS
    _DISCOVERED = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _STATUS and _STATUS[ep.name].loaded and not force:
            continue
        _STATUS[ep.name] = _import_plugin(ep.name, ep.value, getattr(ep, 'dist', None))
    return _STATUS


def import_custom_modules(modules: List[str], allow_failed_imports: bool = False) -> None:
    """Import the modules a config lists in ``custom_imports`` and record them like plugins."""
    for module in modules:
        status = _import_plugin(module, module, None)
        _STATUS.setdefault(module, status)
        if not status.loaded and not allow_failed_imports:
            raise ImportError(f'custom_imports: could not import {module!r}: {status.error}')


def plugin_status() -> Dict[str, PluginStatus]:
    """The status of every plugin seen so far (discovers them if not done yet)."""
    return load_plugins()


def describe_plugins() -> str:
    """A one-line summary of the plugins, for error messages."""
    statuses = load_plugins()
    if not statuses:
        return 'no plugins installed'
    parts = []
    for status in statuses.values():
        if status.loaded:
            parts.append(f'{status.name} {status.version or ""}'.strip())
        else:
            parts.append(f'{status.name} (FAILED: {status.error})')
    return 'plugins: ' + ', '.join(parts)


def failed_plugins_hint() -> str:
    """A sentence naming plugins that failed to import, or '' when none did."""
    failed = [s for s in load_plugins().values() if not s.loaded]
    if not failed:
        return ''
    names = ', '.join(f'{s.name} ({s.error})' for s in failed)
    return f' Plugins that failed to import and may provide it: {names}.'
