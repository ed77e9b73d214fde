"""The compact, columnar index of a reader's records: a few numpy arrays, no dict per record.

A reader keeps one row per valid record of its source (every split): where the record is
(reader-defined *locator* columns such as a byte offset and length into the manifest), its split,
category and instance codes and one presence bit per configured modality. The record itself is
parsed again when it is loaded. About 30 bytes per record, shared copy-on-write by DataLoader
workers (a numpy array is one Python object, so reading it touches no per-record page).
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from .records import SPLITS
from .string_table import StringTable


class RecordIndex:
    """Columns of every record of a source, one row per record in source order.

    Args:
        locators: column name -> array (n,): where each record is, as the reader defines it.
        splits: (n,) uint8 codes into :data:`~m5mm.datasets.records.SPLITS`.
        categories: (n,) int32 indices into ``category_names`` (-1: unknown).
        instances: (n,) int32 indices into ``instance_names`` (-1: unknown).
        present: (n,) uint64, bit ``i`` set when modality ``modalities[i]`` has a value.
        modalities: the modality names of the presence bits.
        category_names: sorted category names.
        instance_names: sorted instance names.
    """

    def __init__(self, *, locators: Dict[str, np.ndarray], splits: np.ndarray, categories: np.ndarray,
                 instances: np.ndarray, present: np.ndarray, modalities: Sequence[str],
                 category_names: List[str], instance_names: StringTable) -> None:
        self.locators = locators
        self.splits = splits
        self.categories = categories
        self.instances = instances
        self.present = present
        self.modalities = list(modalities)
        self.category_names = category_names
        self.instance_names = instance_names

    def __len__(self) -> int:
        return len(self.splits)

    def locator(self, row: int) -> Dict[str, int]:
        """The locator columns of ``row`` as plain ints."""
        return {name: int(column[row]) for name, column in self.locators.items()}

    def split_name(self, row: int) -> str:
        return SPLITS[int(self.splits[row])]

    def rows_in(self, splits: Sequence[str] = None) -> np.ndarray:
        """Row numbers (int64, ascending) of the records in ``splits`` (None: all)."""
        if splits is None:
            return np.arange(len(self), dtype=np.int64)
        codes = [SPLITS.index(s) for s in splits]
        return np.flatnonzero(np.isin(self.splits, codes)).astype(np.int64)

    def has(self, name: str, rows: np.ndarray = None) -> np.ndarray:
        """Bool array: whether modality ``name`` has a value in ``rows`` (default: every row)."""
        bit = np.uint64(1) << np.uint64(self.modalities.index(name))
        present = self.present if rows is None else self.present[rows]
        return (present & bit) != 0

    @property
    def nbytes(self) -> int:
        """Bytes held by the per-record arrays (vocabularies excluded)."""
        arrays = [*self.locators.values(), self.splits, self.categories, self.instances, self.present]
        return int(sum(a.nbytes for a in arrays))
