"""Many strings in two numpy arrays: no Python object per string."""
from __future__ import annotations

from typing import Iterable, Iterator, List

import numpy as np


class StringTable:
    """An immutable list of strings stored as one UTF-8 buffer and an offsets array.

    Args:
        strings: the strings, in order.
    """

    def __init__(self, *, strings: Iterable[str]) -> None:
        encoded = [s.encode('utf-8') for s in strings]
        self._offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=self._offsets[1:])
        self._buffer = np.frombuffer(b''.join(encoded), dtype=np.uint8).copy()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index: int) -> str:
        if not -len(self) <= index < len(self):
            raise IndexError(f'index {index} out of range for {len(self)} strings')
        index %= len(self)
        return self._buffer[self._offsets[index]:self._offsets[index + 1]].tobytes().decode('utf-8')

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def tolist(self) -> List[str]:
        """The strings as a Python list."""
        return list(self)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return int(self._offsets.nbytes + self._buffer.nbytes)
