"""Group-aware batch samplers (``no_duplicates``, ``per_group=k``) for manifest and shard datasets."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from m5mm.datasets import ManifestDataset, ShardedDataset, build_shards
from m5mm.datasets.group_batches import group_batches, parse_group_batching
from m5mm.datasets.loaders import build_dataloader, epoch_batches

TEXT = dict(text=None, table=None)


def _max_per_group(batches, group_of):
    return max(max(Counter(group_of[i] for i in batch).values()) for batch in batches)


@pytest.mark.parametrize('k,window', [(1, None), (2, None), (2, 24), (4, 16)])
def test_group_batches_emit_every_sample_once_with_at_most_k_per_group(k, window):
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 150, 240)   # mostly 1-3 listings per group
    order = rng.permutation(240)
    out, violations = group_batches(order, groups[order], batch_size=8, k=k, window=window)
    assert sorted(out.tolist()) == list(range(240)) and violations == 0
    assert _max_per_group(out.reshape(-1, 8), groups) <= k


def test_per_group_keeps_k_listings_of_each_group_together():
    groups = np.repeat(np.arange(30), 2)             # 30 products, 2 listings each
    order = np.random.default_rng(1).permutation(60)
    out, violations = group_batches(order, groups[order], batch_size=6, k=2)
    assert violations == 0
    for batch in out.reshape(-1, 6):
        assert sorted(Counter(groups[batch]).values()) == [2, 2, 2]   # B/k groups, k listings each


def test_unknown_groups_are_groups_of_one():
    out, violations = group_batches(np.arange(8), np.full(8, -1), batch_size=4, k=1)
    assert violations == 0 and sorted(out.tolist()) == list(range(8))


def test_impossible_constraints_are_counted_not_hidden():
    out, violations = group_batches(np.arange(8), np.zeros(8, dtype=int), batch_size=4, k=1)
    assert sorted(out.tolist()) == list(range(8)) and violations == 6


@pytest.mark.parametrize('cfg,match', [(dict(type='pairs'), 'type'), (dict(type='per_group', k=3), 'divide'),
                                       (dict(type='no_duplicates', key='brand'), 'key'),
                                       (dict(type='per_group', k=2, size=3), 'unknown')])
def test_bad_options_fail_clearly(cfg, match):
    with pytest.raises(ValueError, match=match):
        parse_group_batching(cfg, batch_size=4)


@pytest.mark.parametrize('sampler', [dict(type='no_duplicates'), dict(type='per_group', k=2)])
def test_manifest_loader_batches_respect_groups_and_cover_the_epoch(demo_root, sampler):
    dataset = ManifestDataset(data_root=str(demo_root), modalities=TEXT)
    instance = dataset.group_codes('instance')
    assert len(set(instance.tolist())) < len(instance)   # the demo has duplicate listings
    loader = build_dataloader(dict(batch_size=4, batch_sampler=sampler), dataset=dataset, shuffle=True, seed=3)
    loader.sampler.set_epoch(1)
    batches = [b['meta']['index'].tolist() for b in loader]
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(dataset)))
    assert loader.sampler.violations == 0
    k = sampler.get('k', 1)
    assert _max_per_group(batches, instance) <= k
    if k == 2:   # every instance with >= 2 listings has a batch with 2 of them
        together = Counter(g for b in batches for g, c in Counter(instance[b]).items() if c == 2)
        assert set(together) == {g for g, c in Counter(instance.tolist()).items() if c >= 2}
    loader.sampler.set_epoch(1)
    assert [b['meta']['index'].tolist() for b in loader] == batches      # a function of (seed, epoch)


@pytest.fixture(scope='module')
def grouped_shards(demo_root, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp('grouped_shards')
    build_shards(dict(type='ManifestDataset', data_root=str(demo_root), modalities=TEXT), out=str(out),
                 shard_size=5, log=lambda line: None)
    return str(out)


@pytest.mark.parametrize('num_workers', [0, 2])
def test_shard_stream_groups_batches_and_resumes_exactly(grouped_shards, num_workers):
    def loader(rank=0, world_size=1):
        dataset = ShardedDataset(data_root=grouped_shards, modalities=TEXT, shuffle_buffer=16)
        built = build_dataloader(dict(batch_size=4, num_workers=num_workers, persistent_workers=False,
                                      batch_sampler=dict(type='per_group', k=2)),
                                 dataset=dataset, shuffle=True, drop_last=True, seed=5, world_size=world_size,
                                 rank=rank)
        dataset.set_epoch(1)
        return built

    def batches(built, skip=0):
        return [(b['meta']['ids'], b['meta']['instance'].tolist()) for b in epoch_batches(built, None, skip)]

    full = batches(loader())
    n = ShardedDataset(data_root=grouped_shards, modalities=TEXT).num_samples
    assert len(full) == n // 4
    assert len({i for ids, _ in full for i in ids}) == n // 4 * 4      # every sample at most once
    assert max(max(Counter(g).values()) for _, g in full) <= 2
    assert any(2 in Counter(g).values() for _, g in full)
    for done in (1, 5):
        assert batches(loader(), done) == full[done:]
    ranks = [batches(loader(rank, 2)) for rank in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == n // 8                   # equal whole batches per rank
    assert not {i for ids, _ in ranks[0] for i in ids} & {i for ids, _ in ranks[1] for i in ids}
