"""Deprecated since 0.3, removed in 0.4: use :func:`m5mm.datasets.generation_lock` (the public hook)."""
from __future__ import annotations

import warnings

from filelock import FileLock


def file_lock(path: str) -> FileLock:
    """An exclusive lock on the file ``path`` (``with file_lock(path): ...``); deprecated, see the module."""
    warnings.warn('m5mm.datasets.file_lock.file_lock(TARGET + ".lock") is deprecated: use '
                  'm5mm.datasets.generation_lock(TARGET)', FutureWarning, stacklevel=2)
    return FileLock(path)
