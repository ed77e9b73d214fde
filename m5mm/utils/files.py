"""Durable file writes (fsync before rename, so a crash never leaves a half-written file in place),
JSON reads whose errors name the file, and sha256 digests of files, taken from the bytes as they are
written where the writer is m5mm's."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Type, Union

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


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes (read once, in chunks)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


class Sha256Writer:
    """A binary file open for writing that hashes every byte on its way to the file.

    Writers that stream into a file object (``torch.save``) are given this instead of the file:
    the digest is that of the bytes written, without reading the file back.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def write_hashed(path: PathLike, write: Callable[[Sha256Writer], Any]) -> str:
    """Create ``path`` with ``write(file)``, fsync it, and return the hex sha256 of the bytes written."""
    with open(path, 'wb') as handle:
        writer = Sha256Writer(handle)
        write(writer)
        handle.flush()
        os.fsync(handle.fileno())
    return writer.digest.hexdigest()


def write_bytes_hashed(path: PathLike, data: bytes) -> str:
    """Write ``data`` to ``path`` (fsynced); returns its hex sha256."""
    return write_hashed(path, lambda handle: handle.write(data))
