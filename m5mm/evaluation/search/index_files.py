"""The files of a saved search index: what ``meta.json`` records of each, and the check before parsing.

An index folder may come from someone else (a shared drive, a colleague's export). Its ``meta.json``
lists every file the loader reads with its size and sha256, and :func:`verify_index_files` checks them
before any is parsed, so a damaged or swapped file fails with an error that names it. A hash proves
that nothing was damaged since the folder was written, not who wrote it: a FAISS index is parsed by
FAISS's own C++ reader, so load a FAISS index only from a source you trust (or rebuild it, or use the
exact torch backend, whose ``vectors.npy`` is read as a plain numeric array).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Mapping

import numpy as np

from m5mm.utils.files import sha256_file


class IndexFolderError(ValueError):
    """A search index folder that cannot be loaded as written (missing, damaged or malformed files)."""


def describe_index_files(directory: str, names: Iterable[str]) -> Dict[str, Dict[str, Any]]:
    """``{name: {'bytes': .., 'sha256': ..}}`` of the files ``names`` in ``directory``."""
    described = {}
    for name in names:
        path = os.path.join(directory, name)
        described[name] = dict(bytes=os.path.getsize(path), sha256=sha256_file(path))
    return described


def verify_index_files(directory: str, files: Mapping[str, Any]) -> None:
    """Raise :class:`IndexFolderError` naming the first file that is missing or differs from ``files``."""
    if not isinstance(files, Mapping):
        raise IndexFolderError(f'{directory}/meta.json: "files" must map file names to sizes and digests')
    for name, recorded in files.items():
        if not isinstance(recorded, Mapping) or os.path.basename(name) != name:
            raise IndexFolderError(f'{directory}/meta.json: malformed entry for file {name!r}')
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            raise IndexFolderError(f'{path}: missing (listed in meta.json)')
        if os.path.getsize(path) != recorded.get('bytes'):
            raise IndexFolderError(f'{path}: {os.path.getsize(path)} bytes, meta.json recorded '
                                   f'{recorded.get("bytes")} (damaged or replaced)')
        if sha256_file(path) != recorded.get('sha256'):
            raise IndexFolderError(f'{path}: sha256 differs from the one meta.json recorded (damaged or replaced)')


def load_plain_array(path: str, *, ndim: int, kind: str) -> np.ndarray:
    """A ``.npy`` of plain values (never pickled objects) with ``ndim`` axes and dtype kind in ``kind``.

    Args:
        kind: accepted :attr:`numpy.dtype.kind` letters, e.g. ``'f'`` (floats) or ``'U'`` (unicode).
    """
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise IndexFolderError(f'{path}: not a readable .npy array ({exc})') from None
    if not isinstance(array, np.ndarray) or array.ndim != ndim or array.dtype.kind not in kind:
        raise IndexFolderError(f'{path}: expected a {ndim}-D array of dtype kind {kind!r}, got '
                               f'{getattr(array, "shape", None)} {getattr(array, "dtype", type(array).__name__)}')
    return array
