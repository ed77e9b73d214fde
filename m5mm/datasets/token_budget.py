"""Token-budget batches: batches formed by a total-token budget instead of a sample count.

``train_dataloader.token_budget=dict(max_tokens=4096, modalities=('text', 'table'))``: a sample's
length is its tokens in ``modalities`` (titles, tables; or ``video`` frames / ``audio`` mel frames,
read once when the loader is built); a batch of ``n`` samples whose longest has ``L`` tokens costs
``n * L`` (the padded work of the batch) and never exceeds ``max_tokens``; the loader's
``batch_size`` caps ``n``. Short samples thus come in large batches and long ones in small batches.

The epoch's samples are sorted by length (ties in a seeded random order, a function of (seed,
epoch)) and cut greedily into batches within the budget; the batches then run in a seeded random
order. The cut depends only on the sorted lengths, so **every epoch has the same number of
batches** (the schedule knows its length) and every sample comes exactly once. Under DDP the batch
count is made a multiple of the number of processes by halving the largest batches (a smaller
batch stays within the budget), so Accelerate deals each process the same number of whole batches
and nothing is repeated or dropped. The order is a function of (seed, epoch), so
``skip_first_batches`` resumes exactly mid-epoch.
"""
from __future__ import annotations

from typing import Any, Iterator, List, Mapping, Sequence

import numpy as np

from m5mm.datasets.length_buckets import LENGTH_MODALITIES

from .loaders import EpochShuffleSampler

#: the loader option: ``train_dataloader.token_budget=dict(max_tokens=..., modalities=[...])``
BUDGET_KEYS = ('max_tokens', 'modalities')


def check_budget_cfg(cfg: Mapping[str, Any]) -> dict:
    """``token_budget`` with its defaults; a clear error for unknown keys or a bad budget."""
    unknown = set(cfg) - set(BUDGET_KEYS)
    if unknown:
        raise ValueError(f'token_budget has unknown keys {sorted(unknown)}; accepted: {", ".join(BUDGET_KEYS)}')
    tokens = cfg.get('max_tokens')
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise ValueError(f'token_budget.max_tokens must be a positive int, got {tokens!r}')
    return dict(max_tokens=tokens, modalities=tuple(cfg.get('modalities') or LENGTH_MODALITIES))


def budget_batches(order: Sequence[int], lengths: Sequence[int], *, max_tokens: int,
                   max_samples: int) -> List[List[int]]:
    """``order`` sorted by length (stable) and cut greedily: a batch grows while
    ``len(batch) * longest <= max_tokens`` and ``len(batch) <= max_samples``."""
    ranked = sorted(order, key=lambda i: lengths[i])
    batches: List[List[int]] = []
    for i in ranked:   # ascending: the newcomer is the batch's longest
        if batches and len(batches[-1]) < max_samples and (len(batches[-1]) + 1) * lengths[i] <= max_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def split_to_multiple(batches: List[List[int]], multiple: int) -> List[List[int]]:
    """Halve the largest batches (the first of equals) until their number is a multiple of ``multiple``."""
    batches = [list(b) for b in batches]
    while len(batches) % multiple:
        k = max(range(len(batches)), key=lambda j: (len(batches[j]), -j))
        if len(batches[k]) < 2:
            raise ValueError(f'token_budget: {sum(map(len, batches))} samples cannot make a batch for each of '
                             f'{multiple} processes')
        half = len(batches[k]) // 2
        batches[k:k + 1] = [batches[k][:half], batches[k][half:]]
    return batches


class TokenBudgetBatchSampler:
    """The batch sampler of ``token_budget`` (see the module docstring) for a map-style dataset.

    Args:
        lengths: (N,) tokens of each sample.
        max_tokens: a batch's budget (samples x longest sample).
        max_samples: at most this many samples per batch (the loader's ``batch_size``).
        seed: the run's seed (epoch e's order from (seed, e)).
        world_size: processes; the batch count is a multiple of it.
    """

    def __init__(self, lengths: Sequence[int], *, max_tokens: int, max_samples: int, seed: int = 0,
                 world_size: int = 1) -> None:
        self.lengths = [int(v) for v in lengths]
        self.max_tokens, self.max_samples, self.world_size = int(max_tokens), int(max_samples), int(world_size)
        self.seed = seed
        self.sampler = EpochShuffleSampler(len(self.lengths), seed=seed)   # Accelerate sets its epoch
        longest = max(self.lengths, default=0)
        if longest > self.max_tokens:
            raise ValueError(f'token_budget.max_tokens={self.max_tokens} is below the longest sample '
                             f'({longest} tokens, index {self.lengths.index(longest)}); raise max_tokens')
        self._count = len(self.batches())

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def batches(self) -> List[List[int]]:
        """This epoch's batches, in order."""
        cut = budget_batches(list(self.sampler), self.lengths, max_tokens=self.max_tokens,
                             max_samples=self.max_samples)
        cut = split_to_multiple(cut, self.world_size)
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(cut))
        return [cut[k] for k in order]

    def __iter__(self) -> Iterator[List[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return self._count
