"""Which samples each (rank, stream) reads in an epoch, in which order: a pure function of
(seed, epoch, shard counts, weights, world size, batch size, number of streams).

1. **Segments.** Each source contributes ``target`` samples: its shards in a seeded order
   (repeated when its weight asks for more samples than it has, the last shard cut short when
   fewer), and the segments of all sources are interleaved in a seeded order. Their
   concatenation is the epoch's global sample sequence.
2. **Ranges.** Every rank gets ``num_batches`` whole batches (the remainder below
   ``world_size * batch_size`` is dropped when training), a contiguous range of the sequence;
   within a rank each stream (DataLoader worker) gets a contiguous range of whole batches,
   stream ``s`` ``num_batches // K + (s < num_batches % K)`` of them. The DataLoader takes
   batches from its workers in turn, so batch ``i`` of the epoch comes from stream ``i % K``.
3. **Order.** A stream emits its range through a seeded shuffle buffer, simulated on
   positions here, so a resumed stream knows which samples were already emitted without
   decoding anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

SEGMENT_SALT = 0x5E6
STREAM_SALT = 0x57E


@dataclass(frozen=True)
class Segment:
    """Samples ``[0, stop)`` of one shard (a whole shard unless the source's target ends in it).

    Attributes:
        source: index of the source.
        shard: index of the shard within the source's selected shards.
        stop: number of samples taken from the start of the shard.
        repeat: how many times the source was already gone through this epoch (0 at first).
    """

    source: int
    shard: int
    stop: int
    repeat: int


def source_targets(sizes: Sequence[int], weights: Optional[Sequence[float]],
                   epoch_samples: Optional[int]) -> List[int]:
    """Samples drawn from each source per epoch: its size without weights, else
    ``epoch_samples`` (default: all sources' sizes) shared in proportion to the weights."""
    if weights is None:
        return list(sizes)
    total = sum(sizes) if epoch_samples is None else int(epoch_samples)
    shares = np.asarray(weights, dtype=np.float64) / float(sum(weights))
    targets = np.floor(shares * total).astype(np.int64)
    targets[np.argsort(-(shares * total - targets), kind='stable')[:total - int(targets.sum())]] += 1
    return [int(t) if s > 0 else 0 for t, s in zip(targets, sizes)]


def epoch_segments(shard_counts: Sequence[Sequence[int]], targets: Sequence[int], *, seed: int, epoch: int,
                   shuffle: bool) -> List[Segment]:
    """The epoch's segments in reading order (see the module docstring)."""
    per_source: List[List[Segment]] = []
    for source, (counts, target) in enumerate(zip(shard_counts, targets)):
        rng = np.random.default_rng([seed, epoch, source, SEGMENT_SALT])
        segments, left, repeat = [], int(target), 0
        while left > 0 and sum(counts) > 0:
            order = rng.permutation(len(counts)) if shuffle else np.arange(len(counts))
            for shard in order.tolist():
                take = min(counts[shard], left)
                if take:
                    segments.append(Segment(source, shard, take, repeat))
                left -= take
                if left == 0:
                    break
            repeat += 1
        per_source.append(segments)
    merged = [segment for segments in per_source for segment in segments]
    if shuffle and len(per_source) > 1:
        rng = np.random.default_rng([seed, epoch, SEGMENT_SALT])
        merged = [merged[i] for i in rng.permutation(len(merged)).tolist()]
    return merged


def rank_batches(total: int, *, batch_size: int, world_size: int, drop_last: bool) -> int:
    """Batches every rank runs: whole batches only (equal on every rank) with ``drop_last``;
    else ``ceil(total / batch_size)`` (one rank only, the last batch may be short)."""
    if drop_last:
        return total // (batch_size * world_size)
    if world_size != 1:
        raise ValueError('without drop_last the stream plan is for one process (evaluation)')
    return -(-total // batch_size)


def padded_rank_range(total: int, *, rank: int, world_size: int, batch_size: int) -> Tuple[int, int, int]:
    """Distributed evaluation (one stream per rank): ``(start, stop, pad)``: the rank's contiguous
    share of all ``total`` samples (sizes differ by at most one) and how many repeats of its last
    sample make every rank run the same ``ceil(ceil(total / world_size) / batch_size)`` batches."""
    if total < world_size:
        raise ValueError(f'{total} samples cannot be spread over {world_size} processes')
    base, extra = divmod(total, world_size)
    start = rank * base + min(rank, extra)
    stop = start + base + (rank < extra)
    batches = -(-(base + (extra > 0)) // batch_size)
    return start, stop, batches * batch_size - (stop - start)


def stream_range(total: int, *, rank: int, stream: int, num_streams: int, batch_size: int,
                 num_batches: int) -> Tuple[int, int]:
    """``[start, stop)`` positions of the epoch sequence read by ``stream`` of ``rank``."""
    counts = [num_batches // num_streams + (s < num_batches % num_streams) for s in range(num_streams)]
    rank_start = rank * num_batches * batch_size
    rank_stop = min(rank_start + num_batches * batch_size, total)
    short_stream = (num_batches - 1) % num_streams if num_batches else -1
    start = rank_start
    for s in range(num_streams):
        size = counts[s] * batch_size
        if s == short_stream:
            size -= rank_start + num_batches * batch_size - rank_stop  # the short last batch
        if s == stream:
            return start, start + size
        start += size
    raise ValueError(f'stream {stream} out of range for {num_streams} streams')


def stream_order(start: int, stop: int, *, seed: int, epoch: int, rank: int, stream: int, buffer_size: int,
                 shuffle: bool) -> np.ndarray:
    """Positions ``[start, stop)`` in the order the stream emits them (a seeded shuffle buffer of
    ``buffer_size``: output ``i`` is always among the first ``i + buffer_size`` inputs)."""
    positions = np.arange(start, stop, dtype=np.int64)
    if not shuffle or buffer_size <= 1 or len(positions) <= 1:
        return positions
    rng = np.random.default_rng([seed, epoch, rank, stream, STREAM_SALT])
    size = min(buffer_size, len(positions))
    buffer = positions[:size].tolist()
    picks = rng.integers(0, size, len(positions) - size).tolist()
    out = []
    for position, pick in zip(positions[size:].tolist(), picks):
        out.append(buffer[pick])
        buffer[pick] = position
    out.extend(buffer[i] for i in rng.permutation(size).tolist())
    return np.asarray(out, dtype=np.int64)


def consumed_batches(batches_done: int, *, stream: int, num_streams: int) -> int:
    """Batches of ``stream`` among the first ``batches_done`` of the epoch (batch ``i`` comes
    from stream ``i % num_streams``)."""
    return batches_done // num_streams + (stream < batches_done % num_streams)
