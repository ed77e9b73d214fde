"""Length bucketing: batches of samples of similar token lengths, drawn from a bucket pool.

Each pool of ``pool_batches * batch_size`` consecutive samples of the epoch's shuffled order is
sorted by length (stable, so ties keep their shuffled order) and cut into batches; the full
batches are then put in a seeded random order (a short last batch stays last). A batch's titles
and tables then pad to about their own length instead of the longest of a random batch, and with
the modalities' ``pad_to_multiple`` a run sees a handful of shapes. Everything depends only on
(seed, epoch) (and the stream), so a resumed run reads the same batches.

Map-style datasets use :class:`LengthBucketSampler` (lengths read once from the token
modalities' pipelines, no media decoded); shard streams bucket what they decode
(:func:`bucket_stream`).
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, List, Mapping, Optional, Sequence

import torch
from torch.utils.data import Sampler

#: the modalities whose token counts make a sample's length by default
LENGTH_MODALITIES = ('text', 'table')
#: the loader option: ``train_dataloader.length_buckets=dict(pool_batches=50, modalities=[...])``
BUCKET_KEYS = ('pool_batches', 'modalities')


def check_bucket_cfg(cfg: Mapping[str, Any]) -> dict:
    """``length_buckets`` with its defaults; a clear error for unknown keys or a bad pool."""
    unknown = set(cfg) - set(BUCKET_KEYS)
    if unknown:
        raise ValueError(f'length_buckets has unknown keys {sorted(unknown)}; accepted: {", ".join(BUCKET_KEYS)}')
    pool = cfg.get('pool_batches', 50)
    if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
        raise ValueError(f'length_buckets.pool_batches must be a positive int, got {pool!r}')
    return dict(pool_batches=pool, modalities=tuple(cfg.get('modalities') or LENGTH_MODALITIES))


def entry_length(entry: Any) -> int:
    """Tokens of one sample entry (its first padded key: ``input_ids``, ``frames``, ``feats``...); 0 if absent."""
    if not isinstance(entry, Mapping):
        return 0
    for value in entry.values():
        if isinstance(value, torch.Tensor) and value.dim() >= 1:
            return int(value.shape[0])
    return 0


def sample_length(sample: Mapping[str, Any], modalities: Sequence[str]) -> int:
    """The bucketing length of a sample dict: its tokens in ``modalities``."""
    return sum(entry_length(sample.get(m)) for m in modalities)


def pool_batches(items: Sequence[int], lengths: Sequence[int], batch_size: int,
                 generator: torch.Generator) -> List[List[int]]:
    """One pool: ``items`` sorted by ``lengths`` (stable) and cut into batches, the full ones in
    random order, a short one last."""
    ranked = sorted(range(len(items)), key=lambda k: lengths[k])
    batches = [[items[k] for k in ranked[i:i + batch_size]] for i in range(0, len(ranked), batch_size)]
    full = [b for b in batches if len(b) == batch_size]
    short = [b for b in batches if len(b) < batch_size]
    return [full[k] for k in torch.randperm(len(full), generator=generator).tolist()] + short


class LengthBucketSampler(Sampler[int]):
    """Indices of a map-style dataset in bucketed order (see the module docstring): the DataLoader's
    consecutive ``batch_size`` chunks are the bucket batches.

    Args:
        lengths: (N,) bucketing length of each sample.
        batch_size: the loader's batch size.
        pool_batches: batches per pool (1: no reordering beyond one batch; larger pools group
            lengths more tightly but mix the order less).
        seed: the run's seed (order of epoch e from ``seed + e``, as :class:`EpochShuffleSampler`).
        shuffle: False: pools in index order (still sorted within a pool).
    """

    def __init__(self, lengths: Sequence[int], *, batch_size: int, pool_batches: int = 50, seed: int = 0,
                 shuffle: bool = True) -> None:
        self.lengths = [int(v) for v in lengths]
        self.batch_size, self.pool_batches = int(batch_size), int(pool_batches)
        self.seed, self.shuffle, self.epoch = seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> List[List[int]]:
        """The epoch's batches (the last may be short)."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist() if self.shuffle \
            else list(range(len(self.lengths)))
        pool = self.pool_batches * self.batch_size
        batches: List[List[int]] = []
        for start in range(0, len(order), pool):
            items = order[start:start + pool]
            batches += pool_batches(items, [self.lengths[i] for i in items], self.batch_size, generator)
        full = [b for b in batches if len(b) == self.batch_size]
        short = [b for b in batches if len(b) < self.batch_size]
        if self.shuffle:
            full = [full[k] for k in torch.randperm(len(full), generator=generator).tolist()]
        return full + short

    def __iter__(self) -> Iterator[int]:
        return iter([i for batch in self.batches() for i in batch])

    def __len__(self) -> int:
        return len(self.lengths)


def dataset_lengths(dataset: Any, modalities: Sequence[str]) -> List[int]:
    """Bucketing lengths of a map-style dataset's samples: its token modalities' pipelines run on
    each record (tokenising only; no media is read). A modality it does not have counts 0."""
    names = [m for m in modalities if m in getattr(dataset, 'specs', {})]
    if not names:
        raise ValueError(f'length_buckets: the dataset has none of the modalities {list(modalities)} '
                         f'(it has {sorted(getattr(dataset, "specs", {}))}); set length_buckets.modalities')
    return [sum(entry_length(dataset.load_modality(m, i)) for m in names) for i in range(len(dataset))]


def bucket_stream(samples: Iterable[dict], *, batch_size: int, pool_batches: int, modalities: Sequence[str],
                  seed: Sequence[int], first_pool: int = 0, drop: int = 0) -> Iterator[dict]:
    """A stream's samples in bucketed batches: pools of ``pool_batches * batch_size`` consecutive
    samples, each sorted and its batches shuffled by a generator seeded from ``seed`` and the pool's
    number (``first_pool`` for the first one read).

    Resume: the reader starts at a pool boundary (``first_pool``) and the first ``drop`` samples of
    that pool's bucketed order (batches already trained on) are not emitted.
    """
    size = pool_batches * batch_size
    pool: List[dict] = []
    number = first_pool
    for sample in samples:
        pool.append(sample)
        if len(pool) == size:
            yield from _emit(pool, batch_size, modalities, seed, number, drop)
            pool, number, drop = [], number + 1, 0
    if pool:
        yield from _emit(pool, batch_size, modalities, seed, number, drop)


def _emit(pool: List[dict], batch_size: int, modalities: Sequence[str], seed: Sequence[int], number: int,
          drop: int) -> Iterator[dict]:
    generator = torch.Generator().manual_seed(_mix([*seed, number]))
    lengths = [sample_length(s, modalities) for s in pool]
    order = [k for batch in pool_batches(list(range(len(pool))), lengths, batch_size, generator) for k in batch]
    for k in order[drop:]:
        yield pool[k]


def _mix(values: Sequence[int], base: Optional[int] = None) -> int:
    """A 63-bit seed from integers (order matters)."""
    out = 1469598103934665603 if base is None else base
    for v in values:
        out = ((out ^ (int(v) & 0xFFFFFFFFFFFF)) * 1099511628211) % (1 << 63)
    return out
