"""A product-id -> integer table on disk with O(1) lookups that do not load it into RAM.

An open-addressing hash table in a ``.npy`` file, memory-mapped: row 0 is a header
``[key, rows, fingerprint]``, every other row ``[hash, value]``; a product's slot is
``hash % slots``, probed linearly (the table is at most half full, so a lookup reads about 1-2
rows, i.e. one or two 4 KiB pages, whatever the catalogue size). ``hash`` is the first 8 bytes
of ``blake2b(id)`` with the top bit set (0 marks an empty slot); a lookup that finds the hash
confirms it when the caller checks the id of the row it gets (collisions of 63-bit hashes are
vanishingly rare, and the callers do check). 6 M products take 12 M slots = 192 MB on disk;
the pages a run touches are what it holds in memory.
"""
from __future__ import annotations

import hashlib
import os
from typing import Iterable, Optional, Tuple

import numpy as np

EMPTY = 0
TOP_BIT = 1 << 63


def id_hash(pid: str) -> int:
    """The table's 64-bit hash of a product id (stable across processes and runs; never 0)."""
    return int.from_bytes(hashlib.blake2b(pid.encode('utf-8'), digest_size=8).digest(), 'little') | TOP_BIT


class IdTable:
    """Lookups in a table written by :meth:`write` (memory-mapped, read-only).

    Args:
        path: the ``.npy`` file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.table = np.load(path, mmap_mode='r', allow_pickle=False)
        if self.table.ndim != 2 or self.table.shape[1] != 2 or self.table.dtype != np.uint64:
            raise ValueError(f'{path} is not an m5mm id table; delete it to rebuild it')
        self.slots = self.table.shape[0] - 1

    @property
    def fingerprint(self) -> int:
        """What the table was built from (the writer's ``fingerprint``)."""
        return int(self.table[0, 1])

    def get(self, pid: str) -> Optional[int]:
        """The value of ``pid`` (None if absent)."""
        h = id_hash(pid)
        slot = h % self.slots
        while True:
            stored = int(self.table[1 + slot, 0])
            if stored == EMPTY:
                return None
            if stored == h:
                return int(self.table[1 + slot, 1])
            slot = (slot + 1) % self.slots

    @staticmethod
    def write(path: str, items: Iterable[Tuple[str, int]], *, count: int, fingerprint: int = 0) -> 'IdTable':
        """Write ``(id, value >= 0)`` pairs (``count`` of them at most) to ``path`` (atomically).

        Raises:
            ValueError: an id given twice.
        """
        slots = max(2 * int(count), 1)
        tmp = f'{path}.tmp{os.getpid()}.npy'
        table = np.lib.format.open_memmap(tmp, mode='w+', dtype=np.uint64, shape=(slots + 1, 2))
        table[0] = (slots, fingerprint)
        for pid, value in items:
            h = id_hash(pid)
            slot = h % slots
            while int(table[1 + slot, 0]) != EMPTY:
                if int(table[1 + slot, 0]) == h:
                    raise ValueError(f'id {pid!r} appears twice (building {path})')
                slot = (slot + 1) % slots
            table[1 + slot] = (h, value)
        table.flush()
        del table
        os.replace(tmp, path)
        return IdTable(path)
