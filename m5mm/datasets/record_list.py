"""``dataset.records``: a read-only sequence view that parses each record when it is accessed."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Iterator, List, Union


class RecordList(Sequence):
    """The normalised records of a map-style reader's selected split(s), in order.

    Nothing is cached: ``records[i]`` reads and validates record ``i`` from the source again,
    so iterating over all of them costs a pass over the file (use the dataset's
    :class:`~m5mm.datasets.record_index.RecordIndex` columns for splits, labels and presence).

    Args:
        dataset: a :class:`~m5mm.datasets.base_dataset.BaseProductDataset`.
    """

    def __init__(self, dataset) -> None:
        self._dataset = dataset

    def __len__(self) -> int:
        return len(self._dataset)

    def __getitem__(self, index: Union[int, slice]) -> Union[dict, List[dict]]:
        if isinstance(index, slice):
            return [self._dataset.record(i) for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(f'record {index} out of range for {len(self)} records')
        return self._dataset.record(index % len(self))

    def __iter__(self) -> Iterator[dict]:
        return (self._dataset.record(i) for i in range(len(self)))

    def __repr__(self) -> str:
        return f'RecordList({len(self)} records of {self._dataset!r})'
