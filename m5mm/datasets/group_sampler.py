"""The map-style sampler of the ``batch_sampler`` loader option (``no_duplicates``, ``per_group=k``)."""
from __future__ import annotations

import logging
from typing import Iterator

import numpy as np

from m5mm.datasets.group_batches import GroupBatching, group_batches

from .loaders import EpochShuffleSampler

logger = logging.getLogger(__name__)
#: default look-ahead of the manifest sampler, in batches
WINDOW_BATCHES = 16


class GroupBatchSampler(EpochShuffleSampler):
    """Indices of a map-style dataset in an order whose consecutive runs of ``batch_size`` are
    group-constrained batches (see :mod:`m5mm.datasets.group_batches`); a function of (seed,
    epoch), so ``skip_first_batches`` resumes exactly and Accelerate deals whole batches to the
    processes as for the plain shuffle.

    ``no_duplicates`` starts from a seeded permutation of the samples; ``per_group`` from a seeded
    permutation of the groups with each group's listings (shuffled) next to each other, so the
    ``window`` look-ahead (default 16 batches) always sees a group whole.

    Args:
        groups: (n,) group code of each dataset index (-1: a group of one).
        batch_size: samples per batch.
        batching: the parsed option.
        seed: base seed of the order.
    """

    def __init__(self, groups: np.ndarray, *, batch_size: int, batching: GroupBatching, seed: int = 0) -> None:
        super().__init__(len(groups), seed=seed, shuffle=True)
        self.groups = np.asarray(groups, dtype=np.int64)
        self.batch_size = batch_size
        self.batching = batching
        self.violations = 0

    def epoch_order(self) -> np.ndarray:
        """This epoch's indices in batch order."""
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.batching.k == 1:
            start = rng.permutation(self.length)
        else:   # groups in a random order, each group's listings together
            codes = np.unique(np.where(self.groups < 0, -1 - np.arange(self.length), self.groups),
                              return_inverse=True)[1].reshape(-1)
            group_rank = rng.permutation(int(codes.max()) + 1 if self.length else 0)
            start = np.lexsort((rng.random(self.length), group_rank[codes]))
        window = self.batching.window or WINDOW_BATCHES * self.batch_size
        order, self.violations = group_batches(start, self.groups[start], batch_size=self.batch_size,
                                               k=self.batching.k, window=window)
        if self.violations:
            logger.warning('m5mm: batch_sampler: %d sample(s) of epoch %d share a batch with more than k=%d '
                           'listings of their %s (too few other groups left)', self.violations, self.epoch,
                           self.batching.k, self.batching.key)
        return order

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_order().tolist())
