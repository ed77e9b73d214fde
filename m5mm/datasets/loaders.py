"""Data loaders whose order depends only on (seed, epoch), so training resumes exactly.

Map-style datasets (the manifest and M5Product readers) are shuffled by
:class:`EpochShuffleSampler` and sharded across processes by ``accelerator.prepare``. A stream
(:class:`~m5mm.datasets.ShardedDataset`, anything with ``configure_stream``) splits its epoch
across ranks and workers itself, so its training loader only gets device placement from
Accelerate (:func:`build_train_loader`), and a resume fast-forwards it without decoding
(:func:`epoch_batches`).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Iterator, Optional

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from m5mm.datasets.group_batches import parse_group_batching
from m5mm.datasets.length_buckets import LengthBucketSampler, check_bucket_cfg, dataset_lengths
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


def is_stream(dataset: Any) -> bool:
    """Whether ``dataset`` plans its own reading per rank and worker (a shard stream)."""
    return hasattr(dataset, 'configure_stream')


def build_dataloader(loader_cfg: dict, *, seed: int = 0, shuffle: bool = False,
                     dataset: Optional[Dataset] = None, drop_last: Optional[bool] = None, world_size: int = 1,
                     rank: int = 0) -> DataLoader:
    """Build a DataLoader from a ``*_dataloader`` config dict.

    Worker seeds come from a private generator seeded with ``seed``, so creating an iterator
    never consumes the global torch RNG that the model's masking uses. A stream is told the
    batch size, workers, ``world_size`` and ``rank`` (it reads only this rank's part).

    ``batch_sampler=dict(type='no_duplicates'|'per_group', k=2, key='instance', window=None)``
    (training loaders, ``shuffle=True``): batches with at most one (``no_duplicates``) or ``k``
    listings of a group kept together (``per_group``); see :mod:`m5mm.datasets.group_batches`.

    ``length_buckets=dict(pool_batches=50, modalities=('text', 'table'))`` in a shuffled loader
    batches samples of similar token lengths (:mod:`m5mm.datasets.length_buckets`); ignored when
    ``shuffle`` is False (evaluation keeps the dataset's order).

    ``token_budget=dict(max_tokens=4096, modalities=('text', 'table'))`` in a shuffled loader of a
    map-style dataset forms batches by a total-token budget, ``batch_size`` being the most samples
    per batch (:mod:`m5mm.datasets.token_budget`; every sample once, ``drop_last`` does not apply,
    the batch count a multiple of ``world_size``); ignored when ``shuffle`` is False. It excludes
    ``length_buckets`` and ``batch_sampler``.

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
    batch_sampler = loader_cfg.pop('batch_sampler', None)
    batching = parse_group_batching(batch_sampler, batch_size=batch_size) if shuffle else None
    drop_last = configured_drop_last if drop_last is None else drop_last
    buckets = loader_cfg.pop('length_buckets', None)
    buckets = check_bucket_cfg(buckets) if buckets and shuffle else None
    if buckets is not None and batching is not None:
        raise ValueError('train_dataloader: batch_sampler (grouped batches) and length_buckets cannot be combined; '
                         'choose one')
    budget = loader_cfg.pop('token_budget', None)
    if budget and shuffle:
        from .token_budget import check_budget_cfg
        budget = check_budget_cfg(budget)
        if buckets is not None or batching is not None:
            raise ValueError('train_dataloader: token_budget forms its own batches and cannot be combined with '
                             f'{"length_buckets" if buckets is not None else "batch_sampler (grouped batches)"}; '
                             'choose one')
        if is_stream(dataset):
            raise ValueError(f'train_dataloader: token_budget needs a map-style dataset (a manifest or M5Product '
                             f'dataset), not the stream {type(dataset).__name__}; use length_buckets for shards')
    else:
        budget = None
    if loader_cfg:
        raise ValueError(f'Unknown dataloader config keys: {sorted(loader_cfg)} '
                         f'(known: {", ".join(LOADER_KEYS)})')
    if is_stream(dataset):
        dataset.configure_stream(batch_size=batch_size, num_workers=num_workers, shuffle=shuffle, drop_last=drop_last,
                                 world_size=world_size, rank=rank, seed=seed, length_buckets=buckets,
                                 **({} if batching is None else dict(group_batching=batching)))
        return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=dataset.collate,
                          persistent_workers=persistent and num_workers > 0,
                          generator=torch.Generator().manual_seed(seed))
    sampler = EpochShuffleSampler(len(dataset), seed=seed, shuffle=shuffle) if buckets is None else \
        LengthBucketSampler(dataset_lengths(dataset, buckets['modalities']), batch_size=batch_size,
                            pool_batches=buckets['pool_batches'], seed=seed)
    if budget is not None:
        from .token_budget import TokenBudgetBatchSampler
        batches = TokenBudgetBatchSampler(dataset_lengths(dataset, budget['modalities']),
                                          max_tokens=budget['max_tokens'], max_samples=batch_size, seed=seed,
                                          world_size=world_size)
        return DataLoader(dataset, batch_sampler=batches, num_workers=num_workers, collate_fn=dataset.collate,
                          persistent_workers=persistent and num_workers > 0,
                          generator=torch.Generator().manual_seed(seed))
    if batching is not None:
        from .group_sampler import GroupBatchSampler
        sampler = GroupBatchSampler(_dataset_groups(dataset, batching.key), batch_size=batch_size,
                                    batching=batching, seed=seed)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler,
        num_workers=num_workers, collate_fn=dataset.collate, drop_last=drop_last,
        persistent_workers=persistent and num_workers > 0,
        generator=torch.Generator().manual_seed(seed))


def _dataset_groups(dataset: Dataset, key: str):
    if not hasattr(dataset, 'group_codes'):
        raise ValueError(f'batch_sampler needs a dataset with group codes (a manifest, M5Product or shard '
                         f'dataset), got {type(dataset).__name__}')
    return dataset.group_codes(key)


def build_train_loader(loader_cfg: dict, *, dataset: Dataset, accelerator, seed: int = 0) -> DataLoader:
    """The training loader. A map-style one is returned for ``accelerator.prepare`` (which shards it
    across processes); a stream reads this rank's equal share itself, so it comes back already
    wrapped for device placement and must not be prepared again (see :func:`loader_is_prepared`)."""
    world_size = accelerator.num_processes
    if not is_stream(dataset):   # drop_last (default True), never dropping the only (short) batch
        full = len(dataset) >= loader_cfg['batch_size'] * world_size
        drop_last = bool(loader_cfg.get('drop_last', True)) and full
        return build_dataloader(loader_cfg, dataset=dataset, seed=seed, shuffle=True, drop_last=drop_last,
                                world_size=world_size)
    from accelerate.data_loader import prepare_data_loader
    loader = build_dataloader(loader_cfg, dataset=dataset, seed=seed, shuffle=True, drop_last=True,
                              world_size=world_size, rank=accelerator.process_index)
    if len(loader) == 0:
        raise ValueError(f'{dataset!r} has {dataset.num_samples} samples, fewer than one batch of '
                         f'{loader_cfg["batch_size"]} on each of {world_size} processes')
    plugin = getattr(accelerator.state, 'deepspeed_plugin', None)
    if plugin is not None and plugin.deepspeed_config.get('train_micro_batch_size_per_gpu') == 'auto':
        plugin.deepspeed_config['train_micro_batch_size_per_gpu'] = loader_cfg['batch_size']  # no loader to read
    prepared = prepare_data_loader(loader, accelerator.device, num_processes=1, process_index=0,
                                   put_on_device=True, dispatch_batches=False)
    prepared.m5mm_prepared = True
    return prepared


def loader_is_prepared(loader: DataLoader) -> bool:
    """Whether ``loader`` came from :func:`build_train_loader` ready to use (a stream)."""
    return bool(getattr(loader, 'm5mm_prepared', False))


def batches_per_process(loader: DataLoader, num_processes: int) -> int:
    """Training batches each process runs per epoch (how accelerate shards a map-style loader)."""
    if loader_is_prepared(loader):
        return len(loader)
    if loader.drop_last:
        return len(loader) // num_processes
    return math.ceil(len(loader) / num_processes)


def epoch_batches(loader: DataLoader, accelerator, batch_in_epoch: int) -> Iterable:
    """The batches of the current epoch after the first ``batch_in_epoch`` (resume): a stream
    skips them without decoding; a map-style loader through ``accelerator.skip_first_batches``."""
    if is_stream(loader.dataset):
        loader.dataset.set_resume(batch_in_epoch)
        return loader
    return accelerator.skip_first_batches(loader, batch_in_epoch) if batch_in_epoch else loader


def data_state(loader: DataLoader) -> Dict[str, Any]:
    """JSON-able facts a resume of ``loader`` must agree with (empty for map-style loaders)."""
    return dict(loader.dataset.state_dict()) if is_stream(loader.dataset) else {}


def restore_data_state(loader: DataLoader, state: Optional[Dict[str, Any]]) -> None:
    """Check a checkpoint's :func:`data_state` against ``loader`` (clear error when it cannot
    resume exactly, e.g. another number of workers for a stream)."""
    if state and is_stream(loader.dataset):
        loader.dataset.load_state_dict(state)


def prepare_eval_loader(loader: DataLoader, accelerator) -> DataLoader:
    """An evaluation loader for ``accelerator``'s processes: map-style through
    ``accelerator.prepare_data_loader``; a stream reads only this rank's share (one worker), padded
    with repeats so every rank runs the same number of batches (gathered features drop repeated
    ``index`` values), and only gets device placement."""
    dataset = loader.dataset
    if not is_stream(dataset):
        return accelerator.prepare_data_loader(loader)
    from accelerate.data_loader import prepare_data_loader
    if accelerator.num_processes > 1:
        dataset.configure_stream(batch_size=loader.batch_size, num_workers=0, world_size=accelerator.num_processes,
                                 rank=accelerator.process_index, pad=True)
        loader = DataLoader(dataset, batch_size=loader.batch_size, num_workers=0, collate_fn=dataset.collate)
    return prepare_data_loader(loader, accelerator.device, num_processes=1, process_index=0, put_on_device=True,
                               dispatch_batches=False)
