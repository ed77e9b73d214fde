"""Resolving media paths relative to a data root, rejecting paths that escape it."""
from __future__ import annotations

import os

from .errors import PATH_ESCAPES_ROOT, MediaError


def resolve_media_path(data_root: str, path: str) -> str:
    """Absolute, normalised ``path`` (relative to ``data_root``) that stays inside ``data_root``.

    The check is lexical: ``..`` components and absolute paths outside the root are rejected,
    symbolic links inside the root are followed as they are (a data root may link to storage).

    Raises:
        MediaError: with reason ``'path escapes data root'``.
    """
    root = os.path.normpath(os.path.abspath(data_root))
    if not isinstance(path, str) or not path or '\x00' in path:
        raise MediaError(PATH_ESCAPES_ROOT, f'invalid path {path!r}')
    full = os.path.normpath(os.path.join(root, path))
    if os.path.commonpath([root, full]) != root or full == root:
        raise MediaError(PATH_ESCAPES_ROOT, f'{path!r} is outside {root}')
    return full
