"""Hard negatives: mining excludes the product's group, O(1) file lookups, batches gain the negatives."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from m5mm.datasets import ManifestDataset
from m5mm.datasets.hard_negatives import NegativesFile
from m5mm.datasets.id_table import IdTable
from m5mm.datasets.loaders import build_dataloader
from m5mm.evaluation.negative_mining import nearest_other_groups
from tests.script_module import load_script

TEXT = dict(text=None, table=None)


def test_id_table_finds_every_id_and_nothing_else(tmp_path):
    ids = [f'P{i:05d}' for i in range(500)]
    table = IdTable.write(str(tmp_path / 't.npy'), ((p, 3 * i) for i, p in enumerate(ids)), count=500, fingerprint=7)
    assert [table.get(p) for p in ids] == [3 * i for i in range(500)]
    assert table.get('nope') is None and table.fingerprint == 7
    with pytest.raises(ValueError, match='twice'):
        IdTable.write(str(tmp_path / 'u.npy'), [('a', 1), ('a', 2)], count=2)


def test_nearest_other_groups_skips_the_own_group_nearest_first():
    features = np.array([[1, 0], [0.99, 0.1], [0.9, 0.4], [0, 1], [0.2, 1]], dtype=np.float32)
    groups = np.array([0, 0, 1, 2, -1])
    out = nearest_other_groups(features, ['a', 'b', 'c', 'd', 'e'], groups, k=2)
    assert out['a'] == ['c', 'e'] and out['b'] == ['c', 'e']     # b is a's own instance
    assert out['d'] == ['e', 'c']


def test_negatives_file_reads_one_line_and_rebuilds_its_index_when_changed(tmp_path):
    path = tmp_path / 'neg.jsonl'
    path.write_text('{"id": "a", "negatives": ["b", "c"]}\n{"id": "b", "negatives": ["é"]}\n', encoding='utf-8')
    neg = NegativesFile(str(path))
    assert neg.negatives('b') == ['é'] and neg.negatives('a') == ['b', 'c'] and neg.negatives('zz') == []
    path.write_text('{"id": "z", "negatives": ["a"]}\n', encoding='utf-8')
    assert NegativesFile(str(path)).negatives('z') == ['a']
    path.write_text('{"id": "z"}\n', encoding='utf-8')
    with pytest.raises(ValueError, match='expected'):
        NegativesFile(str(path))


def _write_negatives(path: Path, dataset: ManifestDataset) -> dict:
    ids = [dataset[i]['id'] for i in range(len(dataset))]
    instance = dataset.group_codes('instance')
    negatives = {ids[i]: [ids[j] for j in range(len(ids)) if instance[j] != instance[i] or instance[i] < 0][:3]
                 for i in range(len(ids))}
    path.write_text(''.join(json.dumps(dict(id=p, negatives=n)) + '\n' for p, n in negatives.items()))
    return negatives


def test_batches_gain_per_sample_negatives_from_the_file(demo_root, tmp_path):
    plain = ManifestDataset(data_root=str(demo_root), modalities=TEXT)
    negatives = _write_negatives(tmp_path / 'neg.jsonl', plain)
    dataset = ManifestDataset(data_root=str(demo_root), modalities=TEXT,
                              hard_negatives=dict(file=str(tmp_path / 'neg.jsonl'), per_sample=1))
    loader = build_dataloader(dict(batch_size=4), dataset=dataset, shuffle=True, seed=1)
    batch = next(iter(loader))
    ids = batch['meta']['ids']
    anchors, extra = ids[:4], ids[4:]
    assert 1 <= len(extra) <= 4 and len(set(ids)) == len(ids)
    assert all(any(e in negatives[a] for a in anchors) for e in extra)
    assert batch['text']['present'].shape[0] == len(ids)
    assert next(iter(loader))['meta']['ids'] == ids                 # seeded by (seed, epoch, index)


def test_mine_negatives_tool_excludes_the_products_own_instance(tiny_model_dir, demo_root, tmp_path):
    tool = load_script('tools/mine_negatives.py')
    out = tmp_path / 'negatives.jsonl'
    tool.main([str(tiny_model_dir), '--data-root', str(demo_root), '--out', str(out), '--k', '3'])
    dataset = ManifestDataset(data_root=str(demo_root), modalities=TEXT)
    instance = {dataset[i]['id']: int(g) for i, g in enumerate(dataset.group_codes('instance'))}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r['id'] for r in rows} == set(instance)
    for row in rows:
        assert len(row['negatives']) == 3 and row['id'] not in row['negatives']
        own = instance[row['id']]
        assert all(instance[n] != own for n in row['negatives']) or own < 0
    assert any(sum(1 for g in instance.values() if g == instance[r['id']]) > 1 for r in rows)  # groups exist


def test_a_model_on_cached_features_mines_from_the_manifest_its_run_read(cached_root, tiny_pretrained, tmp_path):
    """A model trained on cached tower features reads ``<m>_feat`` fields that only the features manifest has:
    mining it on the catalogue's own manifest failed (raw media for a cached-feature model) unless the user
    found ``--manifest features/manifest.jsonl``; the run's manifest now travels in the model's provenance."""
    from m5mm.api import ProductEncoder
    from m5mm.engine import run_training
    from m5mm.evaluation.negative_mining import mine_negatives
    work_dir = tmp_path / 'run'
    run_training(str(Path(__file__).resolve().parents[2] / 'configs' / 'scale_5mod_pretrained_tiny_cached.py'),
                 work_dir=str(work_dir), max_steps=1,
                 cfg_options={'data_root': str(cached_root), 'pretrained_root': str(tiny_pretrained),
                              'hooks': [dict(type='CheckpointHook', by_epoch=True, max_keep=1)]})
    encoder = ProductEncoder.from_pretrained(work_dir, device='cpu')
    assert encoder.config['provenance']['manifest'] == 'features/manifest.jsonl'
    out = tmp_path / 'negatives.jsonl'
    load_script('tools/mine_negatives.py').main([str(work_dir), '--data-root', str(cached_root), '--out', str(out),
                                                 '--k', '2'])
    train = ManifestDataset(data_root=str(cached_root), manifest='features/manifest.jsonl', split='train',
                            modalities=TEXT)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r['id'] for r in rows] == [train[i]['id'] for i in range(len(train))]
    assert all(len(r['negatives']) == 2 for r in rows)
    del encoder.config['provenance']['manifest']          # a model folder written before the manifest was kept
    with pytest.raises(ValueError, match='features/manifest.jsonl'):
        mine_negatives(encoder, str(cached_root), str(tmp_path / 'other.jsonl'))


def test_shard_batches_gain_negatives_read_by_id(demo_root, tmp_path):
    from m5mm.datasets import ShardedDataset, build_shards
    shards = tmp_path / 'shards'
    build_shards(dict(type='ManifestDataset', data_root=str(demo_root), modalities=TEXT), out=str(shards),
                 shard_size=5, log=lambda line: None)
    plain = ManifestDataset(data_root=str(demo_root), modalities=TEXT)
    negatives = _write_negatives(tmp_path / 'neg.jsonl', plain)
    dataset = ShardedDataset(data_root=str(shards), modalities=TEXT,
                             hard_negatives=dict(file=str(tmp_path / 'neg.jsonl'), per_sample=2))
    some = plain[7]['id']
    fetched = dataset.sample_by_id(some)
    assert fetched['id'] == some and fetched['text']['input_ids'].tolist() == plain[7]['text']['input_ids'].tolist()
    assert dataset.sample_by_id('no-such-id') is None
    loader = build_dataloader(dict(batch_size=4), dataset=dataset, shuffle=True, drop_last=True, seed=2)
    batch = next(iter(loader))
    ids = batch['meta']['ids']
    assert len(ids) > 4 and len(set(ids)) == len(ids)
    assert all(any(e in negatives[a] for a in ids[:4]) for e in ids[4:])
