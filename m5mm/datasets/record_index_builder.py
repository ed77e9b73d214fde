"""Building a :class:`~m5mm.datasets.record_index.RecordIndex` in one pass over a source.

Columns grow in ``array.array`` buffers (a few bytes per record, no Python object kept per
record). Duplicate ids are found afterwards from 64-bit hashes of the ids (candidates are
confirmed by the reader, which re-reads those records), so no set of every id is held either.
"""
from __future__ import annotations

from array import array
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .record_index import RecordIndex
from .records import SPLITS
from .string_table import StringTable

MAX_MODALITIES = 64


class _Vocabulary:
    """name -> provisional code in first-seen order (one entry per distinct name)."""

    def __init__(self) -> None:
        self.codes: Dict[str, int] = {}

    def code(self, name: Optional[str]) -> int:
        if name is None:
            return -1
        return self.codes.setdefault(name, len(self.codes))

    def finalize(self, codes: np.ndarray) -> Tuple[np.ndarray, List[str]]:
        """Codes remapped to ranks of the sorted names that ``codes`` still uses."""
        names = np.array(list(self.codes), dtype=object)
        used = np.unique(codes[codes >= 0])
        kept = sorted(names[used].tolist())
        rank = {name: i for i, name in enumerate(kept)}
        mapping = np.full(len(names) + 1, -1, dtype=np.int32)
        for code in used.tolist():
            mapping[code] = rank[names[code]]
        return mapping[codes], kept   # codes of -1 pick mapping[-1] == -1


class RecordIndexBuilder:
    """Collects the columns of valid records, then finds duplicate ids and freezes the index.

    Args:
        locator_fields: ``(name, array typecode)`` of each locator column, e.g. ``('offset', 'q')``.
        modalities: the modality names (presence bits, in order).
    """

    def __init__(self, *, locator_fields: Sequence[Tuple[str, str]], modalities: Sequence[str]) -> None:
        if len(modalities) > MAX_MODALITIES:
            raise ValueError(f'at most {MAX_MODALITIES} modalities, got {len(modalities)}')
        self.modalities = list(modalities)
        self._locators = {name: array(code) for name, code in locator_fields}
        self._seq, self._hash = array('q'), array('q')
        self._split, self._category, self._instance, self._present = array('B'), array('i'), array('i'), array('Q')
        self._categories, self._instances = _Vocabulary(), _Vocabulary()

    def __len__(self) -> int:
        return len(self._seq)

    def add(self, seq: int, locator: Sequence[int], record: dict) -> None:
        """Add a valid normalised record read as the ``seq``-th entry of the source."""
        for column, value in zip(self._locators.values(), locator):
            column.append(value)
        self._seq.append(seq)
        self._hash.append(hash(record['id']))
        self._split.append(SPLITS.index(record['split']))
        self._category.append(self._categories.code(record['category']))
        self._instance.append(self._instances.code(record['instance']))
        bits = 0
        for i, name in enumerate(self.modalities):
            if record['fields'][name] is not None:
                bits |= 1 << i
        self._present.append(bits)

    def duplicates(self, id_of: Callable[[Dict[str, int]], str], *, limit: Optional[int] = None
                   ) -> List[Tuple[int, int, str]]:
        """``(seq, row, id)`` of every record whose id occurred earlier, by ``seq``.

        Args:
            id_of: re-reads a record's id from its locator (to confirm hash collisions).
            limit: only consider the first ``limit`` rows.
        """
        hashes = np.frombuffer(self._hash, dtype=np.int64)[:limit]
        order = np.argsort(hashes, kind='stable')
        sorted_hashes = hashes[order]
        same = np.flatnonzero(sorted_hashes[1:] == sorted_hashes[:-1])
        candidates = np.unique(np.concatenate([order[same], order[same + 1]])) if len(same) else []
        first_row: Dict[str, int] = {}
        found = []
        for row in sorted(int(r) for r in candidates):
            record_id = id_of(self._locator(row))
            if record_id in first_row:
                found.append((self._seq[row], row, record_id))
            else:
                first_row[record_id] = row
        return found

    def _locator(self, row: int) -> Dict[str, int]:
        return {name: column[row] for name, column in self._locators.items()}

    def build(self, drop_rows: Sequence[int] = ()) -> RecordIndex:
        """The frozen index without ``drop_rows`` (duplicates); vocabularies over the rows kept."""
        keep = np.ones(len(self), dtype=bool)
        keep[list(drop_rows)] = False

        def column(buffer: array, dtype) -> np.ndarray:
            return np.frombuffer(buffer, dtype=dtype)[keep].copy() if len(buffer) else np.zeros(0, dtype)

        categories, category_names = self._categories.finalize(column(self._category, np.int32))
        instances, instance_names = self._instances.finalize(column(self._instance, np.int32))
        locators = {name: column(buffer, np.dtype(buffer.typecode)) for name, buffer in self._locators.items()}
        return RecordIndex(locators=locators, splits=column(self._split, np.uint8), categories=categories,
                           instances=instances, present=column(self._present, np.uint64),
                           modalities=self.modalities, category_names=category_names,
                           instance_names=StringTable(strings=instance_names))
