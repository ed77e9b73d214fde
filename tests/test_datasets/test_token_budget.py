"""Token-budget batches: every sample once per epoch, the budget respected, the same batch count
every epoch and on every DDP rank, a function of (seed, epoch), clear errors for what conflicts."""
from __future__ import annotations

import pytest
from accelerate.data_loader import prepare_data_loader

from m5mm.datasets import ManifestDataset, ShardedDataset, build_shards
from m5mm.datasets.length_buckets import dataset_lengths
from m5mm.datasets.loaders import build_dataloader
from m5mm.datasets.token_budget import TokenBudgetBatchSampler, budget_batches, split_to_multiple

TEXT = dict(text=None, table=None)
LENGTHS = [3, 9, 4, 12, 7, 7, 2, 20, 5, 11, 6, 8, 3, 15, 9, 1, 4, 10, 7, 13, 2, 6, 18, 5]


def _cost(batch, lengths) -> int:
    return len(batch) * max(lengths[i] for i in batch)


def test_budget_batches_respect_the_budget_and_the_sample_cap():
    batches = budget_batches(range(len(LENGTHS)), LENGTHS, max_tokens=24, max_samples=5)
    assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
    assert all(_cost(b, LENGTHS) <= 24 and len(b) <= 5 for b in batches)
    # short samples come many to a batch (the cap of 5 first), long ones alone
    assert [[LENGTHS[i] for i in b] for b in batches] == [
        [1, 2, 2, 3, 3], [4, 4, 5, 5], [6, 6, 7], [7, 7, 8], [9, 9], [10, 11], [12], [13], [15], [18], [20]]
    assert split_to_multiple([[1, 2, 3], [4]], 4) == [[1], [2], [3], [4]]
    with pytest.raises(ValueError, match='cannot make a batch for each of 4 processes'):
        split_to_multiple([[1, 2], [3]], 4)


@pytest.mark.parametrize('world_size', [1, 2, 3])
def test_sampler_covers_every_sample_once_with_the_same_batch_count_every_epoch(world_size):
    sampler = TokenBudgetBatchSampler(LENGTHS, max_tokens=30, max_samples=6, seed=4, world_size=world_size)
    epochs = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
        assert all(_cost(b, LENGTHS) <= 30 and len(b) <= 6 for b in batches)
        assert len(batches) == len(sampler) and len(sampler) % world_size == 0
        epochs.append(batches)
    assert epochs[0] != epochs[1]
    sampler.set_epoch(1)
    assert list(sampler) == epochs[1]   # a function of (seed, epoch): a resume reads the same batches


def test_the_longest_sample_above_the_budget_is_a_clear_error():
    with pytest.raises(ValueError, match=r'max_tokens=10 is below the longest sample \(20 tokens, index 7\)'):
        TokenBudgetBatchSampler(LENGTHS, max_tokens=10, max_samples=4)


def _loader(demo_root, seed=3, world_size=1, **budget):
    dataset = ManifestDataset(data_root=str(demo_root), modalities=TEXT)
    cfg = dict(batch_size=16, num_workers=0, token_budget=dict(max_tokens=256, **budget))
    return dataset, build_dataloader(cfg, dataset=dataset, shuffle=True, seed=seed, world_size=world_size)


def test_manifest_loader_batches_within_the_budget_and_cover_the_epoch(demo_root):
    dataset, loader = _loader(demo_root)
    lengths = dataset_lengths(dataset, ('text', 'table'))
    loader.batch_sampler.set_epoch(1)
    batches = [b['meta']['index'].tolist() for b in loader]
    assert sorted(i for b in batches for i in b) == list(range(len(dataset)))
    assert all(_cost(b, lengths) <= 256 and len(b) <= 16 for b in batches)
    assert len({len(b) for b in batches}) > 1   # batch sizes follow the lengths
    for b in loader:   # the tokens of the batch's longest sample, as collated
        tokens = b['text']['attention_mask'].sum(1) + b['table']['attention_mask'].sum(1)
        assert len(tokens) * int(tokens.max()) <= 256
    evaluation = build_dataloader(dict(batch_size=16, token_budget=dict(max_tokens=256)), dataset=dataset)
    assert [i for b in evaluation for i in b['meta']['index'].tolist()] == list(range(len(dataset)))


def test_ddp_ranks_get_equal_batch_counts_and_together_every_sample_once(demo_root):
    dataset, loader = _loader(demo_root, world_size=2)
    per_rank = []
    for rank in range(2):
        shard = prepare_data_loader(loader, num_processes=2, process_index=rank, put_on_device=False)
        shard.set_epoch(2)
        per_rank.append([b['meta']['index'].tolist() for b in shard])
    assert len(per_rank[0]) == len(per_rank[1]) == len(loader) // 2
    assert sorted(i for rank in per_rank for b in rank for i in b) == list(range(len(dataset)))


def test_resume_skips_to_exactly_the_same_batches(demo_root, fresh_accelerator_state):
    from accelerate import Accelerator
    accelerator = Accelerator(cpu=True)
    _, loader = _loader(demo_root)
    prepared = accelerator.prepare_data_loader(loader)
    prepared.set_epoch(1)
    full = [b['meta']['index'].tolist() for b in prepared]
    _, again = _loader(demo_root)   # a new process: the same batches from (seed, epoch)
    resumed = accelerator.prepare_data_loader(again)
    resumed.set_epoch(1)
    assert [b['meta']['index'].tolist() for b in accelerator.skip_first_batches(resumed, 3)] == full[3:]


@pytest.mark.parametrize('extra, match', [(dict(length_buckets=dict(pool_batches=2)), 'length_buckets'),
                                          (dict(batch_sampler=dict(type='no_duplicates')), 'batch_sampler')])
def test_token_budget_excludes_the_other_batch_forms(demo_root, extra, match):
    dataset = ManifestDataset(data_root=str(demo_root), modalities=TEXT)
    cfg = dict(batch_size=4, token_budget=dict(max_tokens=256), **extra)
    with pytest.raises(ValueError, match=f'token_budget forms its own batches.*{match}'):
        build_dataloader(cfg, dataset=dataset, shuffle=True)


@pytest.mark.parametrize('budget, match', [(dict(max_tokens=0), 'positive int'),
                                           (dict(max_tokens=64, size=3), 'unknown keys')])
def test_bad_budgets_fail_clearly(demo_root, budget, match):
    dataset = ManifestDataset(data_root=str(demo_root), modalities=TEXT)
    with pytest.raises(ValueError, match=match):
        build_dataloader(dict(batch_size=4, token_budget=budget), dataset=dataset, shuffle=True)


def test_shard_streams_are_refused_with_the_alternative(demo_root, tmp_path):
    build_shards(dict(type='ManifestDataset', data_root=str(demo_root), modalities=TEXT), out=str(tmp_path),
                 shard_size=40, log=lambda line: None)
    dataset = ShardedDataset(data_root=str(tmp_path), modalities=TEXT)
    with pytest.raises(ValueError, match='map-style dataset.*use length_buckets for shards'):
        build_dataloader(dict(batch_size=4, token_budget=dict(max_tokens=64)), dataset=dataset, shuffle=True)
