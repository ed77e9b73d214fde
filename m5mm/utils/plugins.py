"""Discovery of third-party m5mm plugins through the ``m5mm.plugins`` entry-point group.

A plugin package declares, in its ``setup.cfg``::

    [options.entry_points]
    m5mm.plugins =
        pointcloud = m5mm_pointcloud

Importing the named module registers its modules into m5mm's registries (an entry point
``name = package.module:function`` also calls ``function()`` after the import). Plugins are
loaded once per process, the first time m5mm builds anything from a config. A plugin that
fails to import is logged and recorded with its error; runs that do not need it go on, and
a config that names one of its types fails with an error that names the plugin and why it
failed. See ``docs/plugins.md``.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Dict, List, Optional

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = 'm5mm.plugins'
CONFIGS_ENV = 'M5MM_CONFIGS'


class IncompatiblePluginError(ImportError):
    """A plugin does not support the installed m5mm version."""


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


def _defined_in(module: str) -> Dict[str, set]:
    """registry -> names whose class or function is defined in the package of ``module``."""
    from m5mm import registry
    package = module.split('.')[0]
    if package == 'm5mm':  # e.g. custom_imports of an m5mm module: only the diff is its own
        return {}
    found = {}
    for name, reg in registry.all_registries().items():
        names = {key for key, obj in reg.module_dict.items()
                 if (getattr(obj, '__module__', '') or '').split('.')[0] == package}
        if names:
            found[name] = names
    return found


def _import_plugin(name: str, value: str, dist: Optional[metadata.Distribution]) -> PluginStatus:
    module, _, attr = value.partition(':')
    module, attr = module.strip(), attr.strip()
    status = PluginStatus(name=name, module=module,
                          distribution=dist.metadata['Name'] if dist else None,
                          version=dist.version if dist else None)
    before = _registry_snapshot()
    try:
        imported = importlib.import_module(module)
        if attr:
            hook = functools.reduce(getattr, attr.split('.'), imported)
            if callable(hook):
                hook()
    except Exception as exc:  # a broken plugin must not break runs that do not use it
        status.error = f'{type(exc).__name__}: {exc}'
        logger.warning('m5mm plugin %r (%s) failed to import: %s\n%s', name, value, status.error,
                       traceback.format_exc(limit=3))
        return status
    status.loaded = True
    if status.version is None:
        status.version = getattr(imported, '__version__', None)
    after = _registry_snapshot()
    registered = {reg: after[reg] - before.get(reg, set()) for reg in after}
    for reg, names in _defined_in(module).items():  # also when the module was imported earlier
        registered[reg] = registered.get(reg, set()) | names
    status.registered = {reg: sorted(names) for reg, names in registered.items() if names}
    return status


def load_plugins(force: bool = False) -> Dict[str, PluginStatus]:
    """Import every installed plugin of the ``m5mm.plugins`` group (once per process).

    Args:
        force: discover again (new installs; plugins that failed are retried).

    Returns:
        A mapping from plugin name to its :class:`PluginStatus`.
    """
    global _DISCOVERED
    if _DISCOVERED and not force:
        return _STATUS
    _DISCOVERED = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _STATUS and _STATUS[ep.name].loaded:
            continue
        _STATUS[ep.name] = _import_plugin(ep.name, ep.value, getattr(ep, 'dist', None))
    return _STATUS


def import_custom_modules(modules: List[str], allow_failed_imports: bool = False) -> None:
    """Import the modules a config lists in ``custom_imports`` and record them like plugins."""
    for module in modules:
        status = _import_plugin(module, module, None)
        known = any(s.loaded and s.module == module for s in _STATUS.values())  # e.g. also an entry point
        if status.loaded and known:
            continue
        if module not in _STATUS or not _STATUS[module].loaded:
            _STATUS[module] = status
        if not status.loaded and not allow_failed_imports:
            raise ImportError(f'custom_imports: could not import {module!r}: {status.error}')


def import_config_modules(cfg) -> None:
    """Load installed plugins and the config's ``custom_imports`` (what every entry point does first)."""
    load_plugins()
    custom = cfg.get('custom_imports')
    if custom:
        import_custom_modules(list(custom.get('imports', [])), custom.get('allow_failed_imports', False))


def plugin_status() -> Dict[str, PluginStatus]:
    """The status of every plugin seen so far (discovers them if not done yet)."""
    return load_plugins()


def describe_plugins() -> str:
    """A one-line summary of the plugins, for error messages."""
    statuses = load_plugins()
    if not statuses:
        return f'no plugins installed (entry-point group {ENTRY_POINT_GROUP!r})'
    parts = [f'{s.name} {s.version or ""}'.strip() if s.loaded else f'{s.name} (failed to import)'
             for s in statuses.values()]
    return 'plugins: ' + ', '.join(parts)


def failed_plugins_hint() -> str:
    """A sentence naming plugins that failed to import and why, or '' when none did."""
    failed = [s for s in load_plugins().values() if not s.loaded]
    if not failed:
        return ''
    names = '; '.join(f'{s.name} ({s.module}): {s.error}' for s in failed)
    return (f' Plugins that failed to import and may provide it: {names}. '
            f'Run `python tools/list_modules.py --plugins` for details.')


def require_m5mm(specifier: str, *, plugin: str) -> str:
    """Check that the installed m5mm satisfies ``specifier`` (e.g. ``'>=0.1,<0.2'``).

    A plugin calls this first thing in its ``__init__``; the error makes the plugin show as
    failed (with this message) in ``tools/list_modules.py --plugins`` and in unknown-type errors.

    Returns:
        The installed m5mm version.

    Raises:
        IncompatiblePluginError: the installed m5mm is outside ``specifier``.
    """
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import Version

    from m5mm import __version__
    try:
        spec = SpecifierSet(specifier)
    except InvalidSpecifier as exc:
        raise ValueError(f'{plugin}: invalid m5mm version specifier {specifier!r}: {exc}') from None
    if Version(__version__) not in spec:
        raise IncompatiblePluginError(
            f'{plugin} supports m5mm{specifier}, but m5mm {__version__} is installed; install a {plugin} '
            f'release made for m5mm {__version__} or an m5mm version in {specifier}')
    return __version__


def m5mm_config_path(name: str) -> str:
    """The absolute path of ``name`` in m5mm's ``configs/`` folder: what ``m5mm::NAME`` in a plugin config's
    ``_base_`` names (:mod:`m5mm.utils.config_packages`)::

        _base_ = ['m5mm::scale_5mod_tiny.py']

    The folder is ``$M5MM_CONFIGS`` when set, else ``configs/`` next to the ``m5mm`` package
    (a source checkout or an editable install).

    Raises:
        FileNotFoundError: naming the folders searched.
    """
    folder = os.environ.get(CONFIGS_ENV)
    if not folder:
        spec = importlib.util.find_spec('m5mm')
        package_dir = os.path.dirname(os.path.abspath(spec.origin)) if spec and spec.origin else ''
        folder = os.path.join(os.path.dirname(package_dir), 'configs')
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f'm5mm config {name!r} not found in {folder}. m5mm configs ship with its source tree: use a '
            f'source checkout or `pip install -e` of m5mm, or set {CONFIGS_ENV}=/path/to/m5mm/configs')
    return path
