"""Length bucketing: every sample once, batches of similar lengths, a handful of shapes with
pad_to_multiple, the same batches for the same (seed, epoch) and exact resume on shards."""
from __future__ import annotations

import pytest
import torch

from m5mm.datasets import ManifestDataset, ShardedDataset, build_shards
from m5mm.datasets.length_buckets import LengthBucketSampler, pool_batches
from m5mm.datasets.loaders import build_dataloader, epoch_batches

TEXT = dict(text=dict(spec=dict(pad_to_multiple=8)), table=dict(spec=dict(pad_to_multiple=8)))
BUCKETS = dict(pool_batches=4)


@pytest.fixture(scope='module')
def bucket_shards(demo_root, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp('bucket_shards')
    build_shards(dict(type='ManifestDataset', data_root=str(demo_root), modalities=dict(text=None, table=None)),
                 out=str(out), shard_size=5, log=lambda line: None)
    return str(out)


def _lengths(batch) -> torch.Tensor:
    return batch['text']['attention_mask'].sum(1) + batch['table']['attention_mask'].sum(1)


def _spread(loader) -> float:
    """Mean over batches of (longest - shortest) sample length."""
    spreads = [float(lengths.max() - lengths.min()) for lengths in map(_lengths, loader)]
    return sum(spreads) / len(spreads)


def test_pool_batches_sorts_within_the_pool_and_keeps_the_short_batch_last():
    batches = pool_batches([10, 11, 12, 13, 14], [5, 1, 4, 2, 3], 2, torch.Generator().manual_seed(0))
    # lengths sorted: 11 (1), 13 (2), 14 (3), 12 (4), 10 (5)
    assert sorted(map(sorted, batches[:2])) == [[11, 13], [12, 14]] and batches[-1] == [10]
    sampler = LengthBucketSampler(list(range(23)), batch_size=4, pool_batches=2, seed=3)
    order = list(sampler)
    assert sorted(order) == list(range(23)) and len(sampler.batches()[-1]) == 3
    sampler.set_epoch(1)
    assert list(sampler) != order


def test_map_style_buckets_group_lengths_and_repeat_per_seed_and_epoch(demo_root):
    dataset = ManifestDataset(data_root=str(demo_root), modalities=TEXT)
    cfg = dict(batch_size=4, num_workers=0, length_buckets=BUCKETS)
    loader = build_dataloader(cfg, dataset=dataset, shuffle=True, seed=5)
    plain = build_dataloader(dict(cfg, length_buckets=None), dataset=dataset, shuffle=True, seed=5)
    ids = [i for batch in loader for i in batch['meta']['ids']]
    assert sorted(ids) == sorted(dataset[i]['id'] for i in range(len(dataset)))
    assert _spread(loader) < 0.5 * _spread(plain)
    widths = {batch['text']['input_ids'].shape[1] for batch in loader}
    assert all(w % 8 == 0 for w in widths)
    again = build_dataloader(cfg, dataset=dataset, shuffle=True, seed=5)
    assert [b['meta']['ids'] for b in again] == [b['meta']['ids'] for b in loader]
    loader.sampler.set_epoch(1)
    assert [b['meta']['ids'] for b in loader] != [b['meta']['ids'] for b in again]
    evaluation = build_dataloader(cfg, dataset=dataset, shuffle=False)
    assert [i for b in evaluation for i in b['meta']['ids']] == [dataset[i]['id'] for i in range(len(dataset))]


@pytest.mark.parametrize('num_workers', [0, 2])
def test_bucketed_shard_stream_resumes_with_exactly_the_same_batches(bucket_shards, num_workers):
    dataset = ShardedDataset(data_root=bucket_shards, modalities=TEXT, shuffle_buffer=6)
    cfg = dict(batch_size=4, num_workers=num_workers, persistent_workers=False)
    plain = build_dataloader(cfg, dataset=dataset, shuffle=True, drop_last=True, seed=5)
    dataset.set_epoch(1)
    plain_spread = _spread(plain)
    loader = build_dataloader(dict(cfg, length_buckets=BUCKETS), dataset=dataset, shuffle=True, drop_last=True,
                              seed=5)
    full = [batch['meta']['ids'] for batch in epoch_batches(loader, None, 0)]
    assert sorted(i for b in full for i in b) == sorted(i for b in plain for i in b['meta']['ids'])
    assert _spread(loader) < 0.5 * plain_spread
    for done in (1, 5, 9):        # inside the first pool, at a pool boundary (4 x 2 streams), later
        assert [batch['meta']['ids'] for batch in epoch_batches(loader, None, done)] == full[done:]
    dataset.set_resume(0)
