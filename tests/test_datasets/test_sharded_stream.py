"""The shard stream plan: equal whole batches per rank, every sample once, exact resume, any workers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from m5mm.datasets import ShardedDataset, build_shards
from m5mm.datasets.shards import epoch_plan
from m5mm.datasets.loaders import build_dataloader, data_state, epoch_batches, restore_data_state

TEXT = dict(text=None, table=None)


@pytest.fixture(scope='module')
def text_shards(demo_root, tmp_path_factory) -> str:
    """Title/table shards of the demo catalogue, 5 products per shard (uneven last shards)."""
    out = tmp_path_factory.mktemp('text_shards')
    build_shards(dict(type='ManifestDataset', data_root=str(demo_root), modalities=TEXT), out=str(out),
                 shard_size=5, log=lambda line: None)
    return str(out)


def _plan_positions(counts, *, world_size, num_streams, batch_size, epoch, seed=0):
    targets = epoch_plan.source_targets([sum(counts)], None, None)
    total = sum(targets)
    batches = epoch_plan.rank_batches(total, batch_size=batch_size, world_size=world_size, drop_last=True)
    seen = {}
    for rank in range(world_size):
        for stream in range(num_streams):
            start, stop = epoch_plan.stream_range(total, rank=rank, stream=stream, num_streams=num_streams,
                                                  batch_size=batch_size, num_batches=batches)
            order = epoch_plan.stream_order(start, stop, seed=seed, epoch=epoch, rank=rank, stream=stream,
                                            buffer_size=4, shuffle=True)
            seen[rank, stream] = order
    return batches, seen


@pytest.mark.parametrize('world_size,num_streams', [(1, 1), (2, 2), (3, 2), (4, 3)])
def test_every_rank_gets_equal_whole_batches_and_each_sample_once(world_size, num_streams):
    counts, batch = [7, 3, 11, 5, 9], 2  # 35 samples in shards of unequal sizes
    batches, seen = _plan_positions(counts, world_size=world_size, num_streams=num_streams, batch_size=batch, epoch=1)
    assert batches == 35 // (world_size * batch)
    per_rank = {r: sum(len(o) for (rank, _), o in seen.items() if rank == r) for r in range(world_size)}
    assert set(per_rank.values()) == {batches * batch}
    positions = np.concatenate(list(seen.values()))
    assert len(positions) == len(set(positions.tolist())) == world_size * batches * batch
    assert positions.max() < 35
    for order in seen.values():
        assert len(order) % batch == 0


def test_segments_cover_each_shard_once_in_a_seeded_order():
    counts = [7, 3, 11, 5]
    a = epoch_plan.epoch_segments([counts], [26], seed=0, epoch=0, shuffle=True)
    b = epoch_plan.epoch_segments([counts], [26], seed=0, epoch=1, shuffle=True)
    assert sorted(s.shard for s in a) == [0, 1, 2, 3] and [s.stop for s in a] == [counts[s.shard] for s in a]
    assert [s.shard for s in a] != [s.shard for s in b]   # another order each epoch
    weighted = epoch_plan.epoch_segments([counts, [4, 4]], epoch_plan.source_targets([26, 8], [1, 1], 34),
                                         seed=0, epoch=0, shuffle=True)
    by_source = [sum(s.stop for s in weighted if s.source == i) for i in (0, 1)]
    assert by_source == [17, 17] and max(s.repeat for s in weighted if s.source == 1) == 2


def test_the_shuffle_buffer_bounds_how_far_ahead_a_stream_reads():
    order = epoch_plan.stream_order(0, 500, seed=3, epoch=2, rank=0, stream=1, buffer_size=16, shuffle=True)
    assert sorted(order.tolist()) == list(range(500))
    assert all(order[i] < i + 16 for i in range(500))
    assert not np.array_equal(order, np.arange(500))


def _ids(loader, skip=0):
    return [batch['meta']['ids'] for batch in epoch_batches(loader, None, skip)]


@pytest.mark.parametrize('num_workers', [0, 2])
def test_a_resumed_epoch_continues_with_exactly_the_same_batches(text_shards, num_workers):
    dataset = ShardedDataset(data_root=text_shards, modalities=TEXT, shuffle_buffer=6)
    loader = build_dataloader(dict(batch_size=4, num_workers=num_workers, persistent_workers=False),
                              dataset=dataset, shuffle=True, drop_last=True, seed=5)
    dataset.set_epoch(1)
    full = _ids(loader)
    assert len(full) == len(loader) == dataset.num_samples // 4
    flat = [i for batch in full for i in batch]
    assert len(flat) == len(set(flat))
    for done in (1, 3):
        assert _ids(loader, done) == full[done:]
    dataset.set_epoch(2)
    assert _ids(loader) != full


def test_two_ranks_read_disjoint_halves_of_the_epoch(text_shards):
    ranks = []
    for rank in (0, 1):
        dataset = ShardedDataset(data_root=text_shards, modalities=TEXT)
        loader = build_dataloader(dict(batch_size=3, num_workers=2), dataset=dataset, shuffle=True, drop_last=True,
                                  world_size=2, rank=rank)
        ranks.append([i for batch in loader for i in batch['meta']['ids']])
    assert len(ranks[0]) == len(ranks[1]) == dataset.num_samples // 6 * 3
    assert not set(ranks[0]) & set(ranks[1])


def test_a_resume_with_other_workers_fails_clearly(text_shards):
    def loader(workers):
        dataset = ShardedDataset(data_root=text_shards, modalities=TEXT)
        return build_dataloader(dict(batch_size=4, num_workers=workers), dataset=dataset, shuffle=True,
                                drop_last=True)
    saved = data_state(loader(2))
    restore_data_state(loader(2), saved)
    restore_data_state(loader(1), data_state(loader(0)))   # 0 and 1 workers are one stream
    with pytest.raises(ValueError, match='num_workers=2'):
        restore_data_state(loader(1), saved)


def test_samples_of_a_stream_are_decoded_like_random_access(text_shards, demo_root):
    from m5mm.datasets import ManifestDataset
    dataset = ShardedDataset(data_root=text_shards, modalities=TEXT)
    manifest = ManifestDataset(data_root=str(demo_root), modalities=TEXT)
    loader = build_dataloader(dict(batch_size=4, num_workers=0), dataset=dataset, shuffle=True, drop_last=True)
    batch = next(iter(loader))
    expected = manifest.collate([manifest[i] for i in batch['meta']['index'].tolist()])
    assert batch['meta']['ids'] == expected['meta']['ids']
    assert torch.equal(batch['text']['input_ids'], expected['text']['input_ids'])


def test_distributed_evaluation_covers_every_sample_with_equal_batches(text_shards):
    seen, batches = [], []
    for rank in range(3):
        dataset = ShardedDataset(data_root=text_shards, modalities=TEXT, split=['query', 'gallery'])
        dataset.configure_stream(batch_size=4, world_size=3, rank=rank, pad=True)
        loader = torch.utils.data.DataLoader(dataset, batch_size=4, collate_fn=dataset.collate)
        ids = [batch['meta']['ids'] for batch in loader]
        batches.append(len(ids))
        seen += [i for batch in ids for i in batch]
    assert len(set(batches)) == 1 and batches[0] == len(loader)
    assert len(set(seen)) == dataset.num_samples < len(seen)   # every sample, a few repeats to even out
