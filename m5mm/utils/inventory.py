"""Text listings of what is registered and which plugins loaded (``tools/list_modules.py``)."""
from __future__ import annotations

from typing import List, Optional

from m5mm.utils.build import closest_names
from m5mm.utils.plugins import load_plugins


def _first_doc_line(obj) -> str:
    doc = (getattr(obj, '__doc__', None) or '').strip().splitlines()
    return doc[0] if doc else ''


def list_registry(name: str, *, include_parent: bool = False) -> List[tuple]:
    """``(module name, first docstring line, source)`` rows of one registry."""
    from m5mm.registry import all_registries
    registries = all_registries()
    if name not in registries:
        close = closest_names(name, registries)
        raise KeyError(f'No registry named {name!r}. Registries: {", ".join(registries)}.'
                       + (f' Did you mean {close[0]!r}?' if close else ''))
    load_plugins()
    reg = registries[name]
    reg.import_from_location()
    rows = [(key, _first_doc_line(obj), obj.__module__) for key, obj in sorted(reg.module_dict.items())]
    if include_parent and reg.parent is not None:
        reg.parent.import_from_location()
        rows += [(key, _first_doc_line(obj), obj.__module__) for key, obj in sorted(reg.parent.module_dict.items())]
    return rows


def format_registries(names: Optional[List[str]] = None, *, include_parent: bool = False) -> str:
    """Every (or the named) registry with its modules, one per line."""
    from m5mm.registry import all_registries
    lines = []
    for name in names or list(all_registries()):
        rows = list_registry(name, include_parent=include_parent)
        lines.append(f'{name} ({len(rows)})')
        lines.extend(f'  {key:<34} {doc[:70]}' for key, doc, _ in rows)
    return '\n'.join(lines)


def format_plugins() -> str:
    """Installed plugins: version, status and what each registered (or why it failed to import)."""
    from m5mm import __version__
    from m5mm.utils.plugins import ENTRY_POINT_GROUP
    statuses = load_plugins()
    header = f'm5mm {__version__}; plugins of the entry-point group "{ENTRY_POINT_GROUP}":'
    if not statuses:
        return f'{header} none installed.'
    lines = [header]
    for status in statuses.values():
        head = f'{status.name} ({status.distribution or status.module} {status.version or ""}'.strip() + ')'
        if not status.loaded:
            lines.append(f'{head}: FAILED to import {status.module}: {status.error}')
            continue
        lines.append(f'{head}: loaded from {status.module}')
        for registry, names in sorted(status.registered.items()):
            lines.append(f'  {registry}: {", ".join(names)}')
        if not status.registered:
            lines.append('  (registered nothing)')
    return '\n'.join(lines)
