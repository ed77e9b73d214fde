"""Data loaders whose order depends only on (seed, epoch), so training resumes exactly."""
from __future__ import annotations

from typing import Iterator, Optional

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from m5mm.registry import DATASETS
from m5mm.utils.config import LOADER_KEYS


class EpochShuffleSampler(Sampler[int]):
    """Shuffles indices with a generator seeded by ``seed + epoch`` (no global RNG is touched)."""

    def __init__(self, length: int, *, seed: int = 0, shuffle: bool = True) -> None:
        self.length = length
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.length))
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())

    def __len__(self) -> int:
        return self.length


def build_dataset(dataset_cfg: dict) -> Dataset:
    """Build a dataset from its config (``train_dataloader.dataset``)."""
    return DATASETS.build(dataset_cfg)


def describe_empty_split(dataset: Dataset, what: str) -> str:
    """Why ``dataset`` (the ``what`` data) has no sample: its splits and source file, for an error message."""
    splits = getattr(dataset, 'splits', None)
    source = getattr(dataset, 'source_name', type(dataset).__name__)
    skipped = getattr(dataset, 'num_bad_lines', 0)
    return (f'The {what} data is empty: split {splits if splits is not None else "(all)"} of {source} has no '
            f'record{f" ({skipped} malformed records were skipped)" if skipped else ""}. Check the records\' '
            f'"split" field (a record without one is "train") and the dataset\'s data_root/manifest.')


def build_dataloader(loader_cfg: dict, *, seed: int = 0, shuffle: bool = False,
                     dataset: Optional[Dataset] = None, drop_last: Optional[bool] = None) -> DataLoader:
    """Build a DataLoader from a ``*_dataloader`` config dict.

    Worker seeds come from a private generator seeded with ``seed``, so creating an iterator
    never consumes the global torch RNG that the model's masking uses.

    Args:
        drop_last: drop the last incomplete batch; None = the config's ``drop_last`` (default False).
    """
    loader_cfg = dict(loader_cfg)
    dataset = dataset if dataset is not None else build_dataset(loader_cfg.pop('dataset'))
    loader_cfg.pop('dataset', None)
    num_workers = loader_cfg.pop('num_workers', 0)
    batch_size = loader_cfg.pop('batch_size')
    persistent = loader_cfg.pop('persistent_workers', num_workers > 0)
    configured_drop_last = bool(loader_cfg.pop('drop_last', False))
    drop_last = configured_drop_last if drop_last is None else drop_last
    if loader_cfg:
        raise ValueError(f'Unknown dataloader config keys: {sorted(loader_cfg)} '
                         f'(known: {", ".join(LOADER_KEYS)})')
    return DataLoader(
        dataset, batch_size=batch_size, sampler=EpochShuffleSampler(len(dataset), seed=seed, shuffle=shuffle),
        num_workers=num_workers, collate_fn=dataset.collate, drop_last=drop_last,
        persistent_workers=persistent and num_workers > 0,
        generator=torch.Generator().manual_seed(seed))
