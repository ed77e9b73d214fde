"""Shards: built from the real test media, read back equal to ManifestDataset, damage and mixing."""
from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tarfile

import numpy as np
import pytest
import torch

from m5mm.datasets import ManifestDataset, MediaReport, ShardedDataset, build_shards
from m5mm.datasets.shards import ShardIndexError, load_index
from m5mm.datasets.shards.stream import LOST_KEY
from m5mm.datasets.loaders import build_dataloader

FIVE = dict(image=None, text=None, table=None, video=None, audio=None)
IMAGE_PIPELINE = [dict(type='LoadImage'), dict(type='ResizeImage', size=32), dict(type='NormalizeImage')]
VIDEO_PIPELINE = [dict(type='SampleVideoFrames', num_frames=3, size=32)]


def _cfg(data_root, tokenizer_dir, modalities):
    return dict(type='ManifestDataset', data_root=str(data_root), tokenizer=dict(path=tokenizer_dir),
                modalities=modalities)


def _modalities(kind):
    if kind == 'features':
        return dict(image=dict(source='feature'), text=None)
    return dict(FIVE, image=dict(pipeline=IMAGE_PIPELINE), video=dict(pipeline=VIDEO_PIPELINE))


def _build(kind, data_root, tokenizer_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp(f'shards_{kind}')
    modalities = _modalities(kind)
    preprocess = [] if kind == 'files' else list(modalities)
    result = build_shards(_cfg(data_root, tokenizer_dir, modalities), out=str(out), shard_size=2,
                          workers=2 if kind == 'preprocessed' else 1,
                          preprocess=preprocess, log=lambda line: None)
    return kind, out, modalities, result


@pytest.fixture(scope='module', params=['files', 'preprocessed', 'features'])
def built(request, data_root, tokenizer_dir, tmp_path_factory):
    return _build(request.param, data_root, tokenizer_dir, tmp_path_factory)


@pytest.fixture(scope='module')
def files_built(data_root, tokenizer_dir, tmp_path_factory):
    return _build('files', data_root, tokenizer_dir, tmp_path_factory)


@pytest.fixture(scope='module')
def preprocessed_built(data_root, tokenizer_dir, tmp_path_factory):
    return _build('preprocessed', data_root, tokenizer_dir, tmp_path_factory)


def _assert_same_sample(a, b, *, same_index=True):
    assert a['id'] == b['id'] and a['category'] == b['category'] and a['instance'] == b['instance']
    assert a['errors'] == b['errors'], a['id']
    if same_index:
        assert a['index'] == b['index']
    for name in ('image', 'text', 'table', 'video', 'audio'):
        if name not in a:
            continue
        assert (a[name] is None) == (b[name] is None), (a['id'], name)
        if a[name] is not None:
            assert a[name].keys() == b[name].keys()
            for key in a[name]:
                assert torch.equal(a[name][key], b[name][key]), (a['id'], name, key)


@pytest.mark.parametrize('split', ['train', ['query', 'gallery'], None])
def test_samples_equal_the_manifest_readers(built, data_root, tokenizer_dir, split):
    kind, out, modalities, _ = built
    manifest = ManifestDataset(data_root=str(data_root), tokenizer=dict(path=tokenizer_dir), modalities=modalities,
                               split=split)
    shards = ShardedDataset(data_root=str(out), modalities=modalities, split=split)
    assert len(shards) == len(manifest) and shards.meta == manifest.meta
    expected = {s['id']: s for s in (manifest[i] for i in range(len(manifest)))}
    got = list(shards)
    assert sorted(s['id'] for s in got) == sorted(expected)
    for sample in got:  # one split: same order and index; several: grouped by split (documented)
        _assert_same_sample(expected[sample['id']], sample, same_index=isinstance(split, str))
    if isinstance(split, str):
        assert [s['id'] for s in got] == [manifest.record(i)['id'] for i in range(len(manifest))]
    batch_a = manifest.collate([expected[s['id']] for s in got])
    batch_b = shards.collate(got)
    assert batch_a.keys() == batch_b.keys()


def test_index_counts_and_build_report(built, data_root, tokenizer_dir):
    kind, out, modalities, result = built
    index = load_index(str(out))
    assert result['samples'] == 9 and result['index'] == str(out / 'index.json')
    assert {s: info['samples'] for s, info in index['splits'].items()} == dict(train=5, val=1, query=1, gallery=2)
    assert all(shard['samples'] <= 2 for info in index['splits'].values() for shard in info['shards'])
    manifest = ManifestDataset(data_root=str(data_root), tokenizer=dict(path=tokenizer_dir), modalities=modalities,
                               split=None)
    report = MediaReport()
    for i in range(len(manifest)):
        report.update(manifest.collate([manifest[i]])['meta'])
    assert index['build_report']['counts'] == report.as_dict() and index['build_report']['total'] == report.total
    if kind == 'files':
        assert report.as_dict()['image'] == {'corrupt image': 1, 'missing file': 1}
    assert index['modalities']['text']['in_record'] == dict(train=5, val=1, query=1, gallery=1)
    assert index['modalities']['image']['kind'] == ('file' if kind == 'files' else 'preprocessed')
    assert index['modalities']['text']['kind'] == 'value' and index['modalities']['text']['stored_steps'] == []
    assert os.path.isfile(out / 'tokenizer' / 'tokenizer.json')
    assert (out / 'instances.txt').read_text().split() == manifest.instance_names.tolist()


def test_a_rerun_skips_complete_chunks_and_parts_merge(data_root, tokenizer_dir, tmp_path):
    cfg = _cfg(data_root, tokenizer_dir, dict(text=None, image=None))
    quiet = dict(shard_size=2, log=lambda line: None)
    whole = build_shards(cfg, out=str(tmp_path / 'whole'), **quiet)
    first = build_shards(cfg, out=str(tmp_path / 'parts'), part='0/2', **quiet)
    assert first['index'] is None and 0 < first['built'] < whole['built']
    second = build_shards(cfg, out=str(tmp_path / 'parts'), part='1/2', **quiet)
    assert second['index'] and first['built'] + second['built'] == whole['built']
    for shard in (s for info in load_index(str(tmp_path / 'whole'))['splits'].values() for s in info['shards']):
        assert (tmp_path / 'whole' / shard['file']).read_bytes() == (tmp_path / 'parts' / shard['file']).read_bytes()
    os.remove(tmp_path / 'parts' / 'train' / 'train-000001.stats.json')   # as if killed before completing
    (tmp_path / 'parts' / 'train' / 'train-000001-000.tar').write_bytes(b'half')
    again = build_shards(cfg, out=str(tmp_path / 'parts'), **quiet)
    assert again['built'] == 1 and again['skipped'] == whole['built'] - 1
    assert load_index(str(tmp_path / 'parts'))['splits'] == load_index(str(tmp_path / 'whole'))['splits']
    with pytest.raises(ValueError, match='another build'):
        build_shards(cfg, out=str(tmp_path / 'parts'), shard_size=3, log=lambda line: None)


def _copy(built_out, tmp_path):
    out = tmp_path / 'copy'
    shutil.copytree(built_out, out)
    return out


def test_missing_shard_and_stale_index_fail_at_start(files_built, tmp_path):
    kind, out, modalities, _ = files_built
    copy = _copy(out, tmp_path)
    shard = load_index(str(copy))['splits']['train']['shards'][1]['file']
    os.remove(copy / shard)
    with pytest.raises(FileNotFoundError, match=shard.replace('/', '.')):
        ShardedDataset(data_root=str(copy), modalities=modalities)
    shutil.copy(out / shard, copy / shard)
    shutil.copy(out / shard, copy / 'train' / 'train-999999-000.tar')
    with pytest.raises(ShardIndexError, match='train-999999-000.tar'):
        ShardedDataset(data_root=str(copy), modalities=modalities)


def test_a_truncated_shard_keeps_the_steps_and_counts_the_lost_samples(preprocessed_built, tmp_path, caplog):
    kind, out, modalities, _ = preprocessed_built
    copy = _copy(out, tmp_path)
    shard = load_index(str(copy))['splits']['train']['shards'][0]
    path = copy / shard['file']
    with tarfile.open(path) as tar:
        last = tar.getmembers()[-1]   # cut inside the last member of the second sample
    path.write_bytes(path.read_bytes()[:last.offset_data + last.size // 2])
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        dataset = ShardedDataset(data_root=str(copy), modalities=modalities)
        loader = build_dataloader(dict(batch_size=1, num_workers=0), dataset=dataset, shuffle=False)
        samples = [s for batch in loader for s in batch['meta']['errors']]
    assert len(samples) == len(dataset) == 5   # every step still runs
    lost = [errors for errors in samples if LOST_KEY in errors]
    assert len(lost) == 1 and shard['file'] in lost[0][LOST_KEY]
    assert 'differ in size from the index' in caplog.text and shard['file'] in caplog.text


def _replace_member(path, name, data: bytes) -> None:
    """Rewrite the tar ``path`` with member ``name``'s bytes replaced by ``data`` (the rest unchanged)."""
    with tarfile.open(path) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar.getmembers()]
    with tarfile.open(path, 'w') as tar:
        for info, content in members:
            if info.name == name:
                content, info.size = data, len(data)
            tar.addfile(info, io.BytesIO(content))


def _member_of(path, suffix):
    """``(member name, sample id)`` of the first member of ``path`` whose name ends with ``suffix``."""
    with tarfile.open(path) as tar:
        name = next(info.name for info in tar.getmembers() if info.name.endswith(suffix))
        meta = json.loads(tar.extractfile(name.split('.')[0] + '.json').read())
    return name, meta['id']


class Planted:
    """An object whose unpickling would create a directory (it must never be unpickled)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _damaged(kind: str, good: bytes, marker: str) -> bytes:
    if kind == 'truncated':
        return good[:len(good) // 2]
    if kind == 'random bytes':
        return np.random.default_rng(0).bytes(len(good))
    buffer = io.BytesIO()   # an object array, as np.save(allow_pickle=True) writes it
    np.save(buffer, np.array([Planted(marker), None], dtype=object), allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize('kind', ['truncated', 'random bytes', 'object array'])
def test_a_damaged_stored_array_is_a_counted_absence(preprocessed_built, tmp_path, kind):
    _, out, modalities, _ = preprocessed_built
    copy = _copy(out, tmp_path)
    shard = copy / load_index(str(copy))['splits']['train']['shards'][0]['file']
    member, damaged_id = _member_of(shard, '.image.pixels.npy')
    with tarfile.open(shard) as tar:
        good = tar.extractfile(member).read()
    marker = tmp_path / 'unpickled'
    _replace_member(shard, member, _damaged(kind, good, str(marker)))

    expected = {s['id']: s for s in ShardedDataset(data_root=str(out), modalities=modalities)}
    dataset = ShardedDataset(data_root=str(copy), modalities=modalities)
    got = {s['id']: s for s in dataset}
    assert got.keys() == expected.keys() and not marker.exists()   # refused, never unpickled
    for sample_id, sample in got.items():
        if sample_id != damaged_id:
            _assert_same_sample(expected[sample_id], sample)
    sample, reference = got[damaged_id], expected[damaged_id]
    assert sample['image'] is None and sample['errors'] == dict(reference['errors'], image='corrupt shard member')
    for name in ('text', 'table', 'video', 'audio'):
        assert reference[name] is not None and sample[name].keys() == reference[name].keys()
        assert all(torch.equal(sample[name][k], reference[name][k]) for k in sample[name])
    report = MediaReport()   # what training aggregates into media_report.json
    loader = build_dataloader(dict(batch_size=2, num_workers=0), dataset=dataset, shuffle=False)
    for batch in loader:
        report.update(batch['meta'])
        assert not batch['image']['present'][[i for i, sid in enumerate(batch['meta']['ids'])
                                              if sid == damaged_id]].any()
    assert report.counts['image']['corrupt shard member'] == 1 and report.examples[
        ('image', 'corrupt shard member')] == [damaged_id]


def test_a_wrong_typed_value_in_a_sample_json_is_a_counted_absence(files_built, tmp_path):
    _, out, modalities, _ = files_built
    copy = _copy(out, tmp_path)
    shard = copy / load_index(str(copy))['splits']['train']['shards'][0]['file']
    member, damaged_id = _member_of(shard, '.json')
    with tarfile.open(shard) as tar:
        meta = json.loads(tar.extractfile(member).read())
    meta['values']['text'] = 42
    _replace_member(shard, member, json.dumps(meta).encode())
    got = {s['id']: s for s in ShardedDataset(data_root=str(copy), modalities=modalities)}
    assert got[damaged_id]['text'] is None and got[damaged_id]['errors']['text'] == 'corrupt shard sample'
    assert got[damaged_id]['table'] is not None and got[damaged_id]['image'] is not None


def test_a_wrong_typed_manifest_field_is_a_malformed_line_of_the_build(data_root, tokenizer_dir, tmp_path):
    root = tmp_path / 'data'
    root.mkdir()
    lines = [dict(id='a', text='red shirt'), dict(id='b', text=42), dict(id='c', text='mug', split=0),
             dict(id='d', text='blue jeans')]
    (root / 'manifest.jsonl').write_text(''.join(json.dumps(line) + '\n' for line in lines))
    cfg = dict(type='ManifestDataset', data_root=str(root), tokenizer=dict(path=tokenizer_dir),
               modalities=dict(text=None), on_bad_line='skip')
    build_shards(cfg, out=str(tmp_path / 'shards'), shard_size=2, log=lambda line: None)
    index = load_index(str(tmp_path / 'shards'))
    assert index['splits']['train']['samples'] == 2 and index['bad_lines']['count'] == 2
    reasons = [reason for _, reason in index['bad_lines']['examples']]
    assert "field 'text': text: expected a string, got int" in reasons[0] and 'unknown split 0' in reasons[1]
    assert sorted(s['id'] for s in ShardedDataset(data_root=str(tmp_path / 'shards'))) == ['a', 'd']


def test_weighted_sources_mix_in_their_ratio(files_built, tmp_path):
    kind, out, _, _ = files_built
    other = _copy(out, tmp_path)
    dataset = ShardedDataset(sources=[dict(path=str(out), weight=3), dict(path=str(other), weight=1)],
                             modalities=dict(text=None), epoch_samples=400)
    loader = build_dataloader(dict(batch_size=10, num_workers=0), dataset=dataset, shuffle=True, drop_last=True)
    indices = torch.cat([batch['meta']['index'] for batch in loader])
    assert len(indices) == 400
    from_first = int((indices < 5).sum())      # 5 train samples per source: indices 0-4, then 5-9
    assert from_first == 300
    assert dataset.meta['num_instances'] == 12   # instances of different sources stay apart


def test_a_shard_folder_is_picked_by_data_root(files_built, tmp_path):
    kind, out, _, _ = files_built
    from m5mm.datasets.data_argument import dataset_cfg_from_target
    from m5mm.utils.config import load_config
    cfg = load_config(str(os.path.join(os.path.dirname(__file__), '..', '..', 'configs', 'scale_5mod_tiny.py')),
                      dict(data_root=str(out)))
    for loader in ('train_dataloader', 'test_dataloader'):
        dataset = cfg[loader]['dataset']
        assert dataset['type'] == 'ShardedDataset' and 'generate_if_missing' not in dataset
    assert dataset_cfg_from_target(str(out))['type'] == 'ShardedDataset'
    assert json.loads((out / 'build_plan.json').read_text())['shard_size'] == 2


def test_inspection_of_a_shard_folder_lists_what_was_unusable(files_built):
    from m5mm.datasets.inspection import dataset_for_inspection, inspect_dataset
    kind, out, _, _ = files_built
    dataset = dataset_for_inspection(str(out))   # the modalities the shards were built with
    assert list(dataset.specs) == ['image', 'text', 'table', 'video', 'audio']
    report = inspect_dataset(dataset)
    counts = load_index(str(out))['build_report']['counts']
    assert report.num_records == 9 and report.splits == dict(train=5, val=1, query=1, gallery=2)
    assert report.problem_counts() == counts and report.in_record['text'] == 8
