"""Which ``<id>.<ext>`` files a media folder holds, as two numpy arrays (no dict per file).

Used while an M5Product reader indexes its meta file: a stem is looked up by its 64-bit hash
(sorted array + binary search), which is enough to pick the file name since the name is then
built from the record's id and the stored extension.
"""
from __future__ import annotations

import os
from array import array
from typing import List

import numpy as np


class MediaFolderIndex:
    """The files of one folder by stem.

    Args:
        folder: the folder (a missing one is empty).
    """

    def __init__(self, *, folder: str) -> None:
        self.extensions: List[str] = []   # distinct extensions as found (case kept), code = position
        hashes, codes = array('q'), array('H')
        if os.path.isdir(folder):
            with os.scandir(folder) as entries:
                for entry in entries:
                    stem, ext = os.path.splitext(entry.name)
                    if ext not in self.extensions:
                        self.extensions.append(ext)
                    hashes.append(hash(stem))
                    codes.append(self.extensions.index(ext))
        self._hashes = np.frombuffer(hashes, dtype=np.int64) if hashes else np.zeros(0, np.int64)
        self._codes = np.frombuffer(codes, dtype=np.uint16) if codes else np.zeros(0, np.uint16)
        order = np.argsort(self._hashes, kind='stable')
        self._hashes, self._codes = self._hashes[order], self._codes[order]

    def extensions_of(self, stem: str) -> List[str]:
        """Extensions of the files named ``stem.<ext>`` (in this process: hashes are per process)."""
        key = hash(stem)
        lo = int(np.searchsorted(self._hashes, key, side='left'))
        hi = int(np.searchsorted(self._hashes, key, side='right'))
        return [self.extensions[c] for c in self._codes[lo:hi].tolist()]
