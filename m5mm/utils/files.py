"""Durable file writes (fsync before rename, so a crash never leaves a half-written file in place)
and JSON reads whose errors name the file."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Type, Union

PathLike = Union[str, Path]


def fsync_file(path: PathLike) -> None:
    """Flush ``path``'s data to disk."""
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: PathLike) -> None:
    """Flush a directory's entries (creations, renames) to disk (a no-op where unsupported)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(root: PathLike, files: Iterable[PathLike] = ()) -> None:
    """fsync ``files`` (default: every file under ``root``), then every directory under ``root``."""
    root = Path(root)
    files = list(files) or [p for p in root.rglob('*') if p.is_file()]
    for path in files:
        fsync_file(path)
    for folder in sorted((p for p in root.rglob('*') if p.is_dir()), key=lambda p: -len(p.parts)):
        fsync_dir(folder)
    fsync_dir(root)


def read_json(path: PathLike, *, error: Type[Exception] = ValueError) -> Any:
    """The JSON value in ``path`` (UTF-8).

    Raises:
        error: naming the file when it is missing, not UTF-8 or not valid JSON (the caller's
            error class, e.g. ``CheckpointError`` or ``ModelFolderError``).
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding='utf-8'))
    except FileNotFoundError:
        raise error(f'{path}: missing') from None
    except UnicodeDecodeError as exc:
        raise error(f'{path}: not valid JSON (not UTF-8: {exc.reason} at byte {exc.start})') from None
    except json.JSONDecodeError as exc:
        raise error(f'{path}: not valid JSON ({exc})') from None


def write_json(path: PathLike, value: Any, *, indent: int = 2) -> Path:
    """Write ``value`` as JSON and fsync it."""
    path = Path(path)
    with open(path, 'w', encoding='utf-8') as handle:
        json.dump(value, handle, indent=indent)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Replace ``path`` with ``text`` atomically: write a sibling, fsync, rename over."""
    path = Path(path)
    tmp = path.with_name(f'.{path.name}.tmp')
    with open(tmp, 'w', encoding='utf-8') as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


def atomic_write_json(path: PathLike, value: Any, *, indent: int = 2) -> Path:
    """:func:`atomic_write_text` of ``value`` as JSON."""
    return atomic_write_text(path, json.dumps(value, indent=indent))
