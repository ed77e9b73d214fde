"""Reading one stream's range of the epoch sequence and emitting it in its shuffled order.

The stream knows its output order in advance (positions, from
:func:`~m5mm.datasets.shards.epoch_plan.stream_order`). It reads the shards that cover its range
in sequence, decodes only the samples still to be emitted (those before ``skip`` were emitted
before a resume; shards holding none of the rest are not even opened), keeps decoded samples
until their turn, and emits them. A sample lost to a damaged shard is replaced by a copy of
the previously emitted one (its ``errors`` say so), so every rank keeps its number of steps.
"""
from __future__ import annotations

import logging
from contextlib import closing
from typing import Callable, Dict, Iterator, List, Optional, Set

import numpy as np

from .epoch_plan import Segment
from .sample_codec import is_complete, sample_key
from .shard_reader import ShardDamaged, iter_shard

logger = logging.getLogger(__name__)
LOST_KEY = 'shard'

# decode(segment, shard dict, in-shard position, members) -> sample
Decoder = Callable[[Segment, dict, int, Dict[str, bytes]], dict]


class StreamReader:
    """Emits the samples of one stream (see the module docstring).

    Args:
        order: (n,) positions in output order.
        skip: outputs already emitted (resume); they are not decoded again.
        segments: the epoch's segments; ``starts`` their first global positions.
        shard_of: segment -> ``(path, shard dict)``.
        decode: builds the sample dict of a member.
        pad: copies of the last sample emitted at the end (equal batch counts in distributed
            evaluation; they keep their ``index``, so gathered features drop them).
    """

    def __init__(self, *, order: np.ndarray, skip: int, segments: List[Segment], starts: np.ndarray,
                 shard_of: Callable[[Segment], tuple], decode: Decoder, pad: int = 0) -> None:
        self.order, self.next = order, skip
        self.segments, self.starts = segments, starts
        self.shard_of, self.decode = shard_of, decode
        self.pending: Dict[int, dict] = {}
        self.lost: Set[int] = set()
        self.lost_in: Dict[int, str] = {}
        self.last: Optional[dict] = None
        self.owed: List[str] = []
        self.pad = pad

    def __iter__(self) -> Iterator[dict]:
        todo = np.sort(self.order[self.next:])
        if not len(todo):
            return
        first = int(np.searchsorted(self.starts, todo[0], side='right')) - 1
        last = int(np.searchsorted(self.starts, todo[-1], side='right')) - 1
        for k in range(first, last + 1):
            start = int(self.starts[k])
            lo, hi = np.searchsorted(todo, [start, start + self.segments[k].stop])
            if hi > lo:
                yield from self._read_segment(k, set((todo[lo:hi] - start).tolist()))
        yield from self._flush()
        for _ in range(self.pad if self.last is not None else 0):
            yield self.last
        if self.next < len(self.order) or self.owed:
            raise RuntimeError(f'no readable sample in this stream\'s part of {sorted(set(self.owed))}: '
                               f'the shards are damaged beyond use; rebuild them with tools/make_shards.py')

    def _read_segment(self, k: int, needed: Set[int]) -> Iterator[dict]:
        segment, start = self.segments[k], int(self.starts[k])
        path, shard = self.shard_of(segment)
        first_index = shard['first_index']
        keys = {sample_key(first_index + local): local for local in needed}
        done: Set[str] = set()
        try:
            with closing(iter_shard(path, wanted=keys.__contains__)) as samples:
                yield from self._receive(samples, keys, start, segment, shard, done)
        except ShardDamaged as exc:
            logger.warning('m5mm: %s; %d of its samples this stream needed were lost', exc, len(keys) - len(done))

        missing = [start + local for local in sorted(needed) if sample_key(first_index + local) not in done]
        if missing:
            logger.warning('m5mm: %d sample(s) of %s could not be read; replaced by repeats', len(missing), path)
        for position in missing:
            self.lost.add(position)
            self.lost_in[position] = shard['file']
        yield from self._flush()

    def _receive(self, samples, keys: Dict[str, int], start: int, segment: Segment, shard: dict,
                 done: Set[str]) -> Iterator[dict]:
        for key, members in samples:
            if key not in keys or not is_complete(members):
                continue
            local = keys[key]
            self.pending[start + local] = self.decode(segment, shard, local, members)
            done.add(key)
            yield from self._flush()
            if len(done) == len(keys):
                return

    def _flush(self) -> Iterator[dict]:
        while self.next < len(self.order):
            position = int(self.order[self.next])
            if position in self.pending:
                sample = self.pending.pop(position)
                self.next += 1
                yield sample
                self.last = sample
                for file in self.owed:
                    yield self._replacement(sample, file)
                self.owed = []
            elif position in self.lost:
                self.lost.discard(position)
                self.next += 1
                file = self.lost_in.pop(position)
                if self.last is None:
                    self.owed.append(file)
                else:
                    yield self._replacement(self.last, file)
            else:
                return

    @staticmethod
    def _replacement(sample: dict, file: str) -> dict:
        return dict(sample, errors=dict(sample.get('errors') or {}, **{LOST_KEY: f'lost in damaged {file}'}))
