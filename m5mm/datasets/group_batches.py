"""Reordering a sample sequence into batches that respect product groups (``no_duplicates``, ``per_group=k``).

A pure function of the input order and the group codes, so the manifest sampler and the shard
streams (whose order is itself a function of (seed, epoch)) resume exactly. Batches are built
one at a time from a queue of *chunks* (up to ``k`` listings of one group, in order of first
appearance) that holds at most ``window`` samples of look-ahead:

* a chunk is taken when its group is not yet in the batch and it fits the space left, full
  chunks (``k`` listings, which stay aligned as ``k`` divides ``B``) before smaller ones;
* if nothing fits, the first chunk of a group not in the batch is split to fill the batch;
* if every queued chunk's group is already in the batch (only near the end of a sequence with
  very few groups), samples are taken anyway and counted in ``violations``.

Every input position is emitted exactly once, batch ``i`` being ``out[i*B:(i+1)*B]``.
``no_duplicates`` is ``k=1``: at most one listing per group in a batch.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

#: batch sampler types of the ``batch_sampler`` loader option
GROUP_SAMPLERS = ('no_duplicates', 'per_group')
#: dataset fields a group can be keyed on
GROUP_KEYS = ('instance', 'category')


@dataclass(frozen=True)
class GroupBatching:
    """A parsed ``batch_sampler`` option.

    Attributes:
        k: at most ``k`` listings of a group per batch, kept together (1 for ``no_duplicates``).
        key: the grouping field (``instance`` or ``category``).
        window: look-ahead in samples (None: the whole sequence, the manifest default).
    """

    k: int
    key: str = 'instance'
    window: Optional[int] = None


def parse_group_batching(cfg: Optional[dict], *, batch_size: int) -> Optional[GroupBatching]:
    """``dict(type='no_duplicates'|'per_group', k=2, key='instance', window=None)`` -> a
    :class:`GroupBatching` (None for None); a clear ``ValueError`` for a bad option."""
    if cfg is None:
        return None
    cfg = dict(cfg)
    kind = cfg.pop('type', None)
    if kind not in GROUP_SAMPLERS:
        raise ValueError(f'batch_sampler.type must be one of {GROUP_SAMPLERS}, got {kind!r}')
    k = int(cfg.pop('k', 1 if kind == 'no_duplicates' else 2))
    key = cfg.pop('key', 'instance')
    window = cfg.pop('window', None)
    if cfg:
        raise ValueError(f'unknown batch_sampler keys {sorted(cfg)} (known: type, k, key, window)')
    if kind == 'no_duplicates' and k != 1:
        raise ValueError(f'batch_sampler no_duplicates has k=1, got k={k} (use type=per_group)')
    if key not in GROUP_KEYS:
        raise ValueError(f'batch_sampler.key must be one of {GROUP_KEYS}, got {key!r}')
    if not 1 <= k <= batch_size or batch_size % k:
        raise ValueError(f'batch_sampler per_group k={k} must divide the batch size {batch_size}')
    if window is not None and int(window) < batch_size:
        raise ValueError(f'batch_sampler.window={window} must be >= the batch size {batch_size}')
    return GroupBatching(k=k, key=key, window=None if window is None else int(window))


def unique_unknown(groups: np.ndarray) -> np.ndarray:
    """Group codes with every unknown (< 0) code made a group of its own."""
    groups = np.asarray(groups, dtype=np.int64)
    unknown = groups < 0
    if unknown.any():
        groups = groups.copy()
        groups[unknown] = -1 - np.flatnonzero(unknown)
    return groups


def group_batches(order: np.ndarray, groups: np.ndarray, *, batch_size: int, k: int,
                  window: Optional[int] = None) -> Tuple[np.ndarray, int]:
    """Reorder ``order`` into batches of ``batch_size`` (see the module docstring).

    Args:
        order: (n,) positions in their shuffled order.
        groups: (n,) group code of each entry of ``order`` (same index); unknown (< 0) codes are
            groups of one.
        batch_size: B (the last batch may be short).
        k: at most ``k`` listings of a group per batch.
        window: samples of look-ahead (None: all).

    Returns:
        ``(reordered positions, violations)``: violations counts samples placed in a batch that
        already held ``k`` of their group.
    """
    order = np.asarray(order, dtype=np.int64)
    codes = unique_unknown(groups).tolist()
    n = len(order)
    window = n if window is None else max(int(window), batch_size)
    queue: 'OrderedDict[int, Tuple[int, List[int]]]' = OrderedDict()   # chunk id -> (group, entries)
    open_chunk: Dict[int, int] = {}
    queued, fed, next_id = 0, 0, 0
    out: List[int] = []
    violations = 0
    while len(out) < n:
        while fed < n and queued < window:   # top up the look-ahead
            group = codes[fed]
            cid = open_chunk.get(group)
            if cid is not None and cid in queue and len(queue[cid][1]) < k:
                queue[cid][1].append(fed)
            else:
                queue[next_id] = (group, [fed])
                open_chunk[group] = next_id
                next_id += 1
            fed += 1
            queued += 1
        size = min(batch_size, n - len(out))
        batch, forced = _fill_batch(queue, size, k)
        violations += forced
        queued -= len(batch)
        out.extend(batch)
    return order[np.asarray(out, dtype=np.int64)], violations


def _fill_batch(queue: 'OrderedDict[int, Tuple[int, List[int]]]', size: int, k: int) -> Tuple[List[int], int]:
    """Take ``size`` entries from ``queue`` (full then smaller whole chunks of new groups, then a
    split chunk, then anything) -> (entries, number taken against the rule)."""
    batch: List[int] = []
    count: Dict[int, int] = {}
    forced = 0
    for rule in ('full', 'whole', 'split', 'any'):
        taken: List[Tuple[int, int]] = []
        for cid, (group, entries) in queue.items():
            if len(batch) == size:
                break
            space = size - len(batch)
            if rule in ('full', 'whole'):
                fits = group not in count and len(entries) <= space and (rule == 'whole' or len(entries) == k)
                take = len(entries) if fits else 0
            elif rule == 'split':
                take = min(space, k - count.get(group, 0), len(entries))
            else:
                take = min(space, len(entries))
                forced += take
            if take > 0:
                batch.extend(entries[:take])
                count[group] = count.get(group, 0) + take
                taken.append((cid, take))
        for cid, take in taken:
            group, entries = queue[cid]
            if take >= len(entries):
                del queue[cid]
            else:
                queue[cid] = (group, entries[take:])
        if len(batch) == size:
            break
    return batch, forced
