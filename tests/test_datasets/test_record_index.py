"""The readers' compact record index: a few bytes per record, no dict per record, exact offsets."""
from __future__ import annotations

import gc
import json

import numpy as np
import pytest

from m5mm.datasets import M5ProductDataset, ManifestDataset
from m5mm.datasets import json_object_stream
from m5mm.datasets.json_object_stream import iter_object_entries, read_entry

N = 3000


def _write_manifest(path, n):
    with open(path, 'w', encoding='utf-8') as handle:
        for i in range(n):
            handle.write(json.dumps(dict(id=f'P{i:06d}', text=f'product número {i}', image=f'images/{i}.jpg',
                                         table=[['k', str(i)]] if i % 3 else None, category=f'c{i % 17}',
                                         instance=f'sku-{i // 4}', split='train' if i % 5 else 'gallery'),
                                    ensure_ascii=False) + '\n')


def _dict_count() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is dict)


def test_the_index_holds_no_python_object_per_record(tmp_path):
    def build(root, n):
        root.mkdir()
        _write_manifest(root / 'manifest.jsonl', n)
        return ManifestDataset(data_root=str(root), tokenizer=None, modalities=dict(image=None, table=None),
                               split=None)
    build(tmp_path / 'warm_up', 10)   # imports done, registries filled
    before = _dict_count()
    dataset = build(tmp_path / 'big', N)
    assert _dict_count() - before < N // 10   # specs, pipelines ... but nothing per record
    for name, value in vars(dataset).items():
        if isinstance(value, (list, dict, set, tuple)):
            assert len(value) < N // 10, f'dataset.{name} grows with the records'
    per_record = dataset.index.nbytes / len(dataset)
    assert per_record + dataset._rows.itemsize <= 100, per_record
    assert dataset.index.locators['offset'].dtype == np.int64
    assert len(dataset.instance_names) == N // 4 and dataset.meta['num_categories'] == 17
    record = dataset.records[1234]
    assert record['id'] == 'P001234' and record['fields']['table'] == [('k', '1234')]
    assert record['fields']['image'] == 'images/1234.jpg'
    assert dataset.index.has('table').sum() == N - len(range(0, N, 3))


def test_a_record_is_read_again_from_its_offset(tmp_path):
    _write_manifest(tmp_path / 'manifest.jsonl', 50)
    gallery = ManifestDataset(data_root=str(tmp_path), tokenizer=None, modalities=dict(image=None), split='gallery')
    lines = [json.loads(line) for line in (tmp_path / 'manifest.jsonl').read_text(encoding='utf-8').splitlines()]
    expected = [r['id'] for r in lines if r['split'] == 'gallery']
    assert [r['id'] for r in gallery.records] == expected
    assert gallery.records[-1]['id'] == expected[-1] and len(gallery.records[1:3]) == 2
    categories = sorted(f'c{i}' for i in range(17))   # names sorted over the whole manifest
    assert gallery[0]['instance'] == 0 and gallery[1]['category'] == categories.index('c5')   # P000005
    assert gallery[1]['instance'] == 1


@pytest.mark.parametrize('chunk', [7, 64, 1 << 20])
def test_json_object_entries_are_streamed_with_byte_ranges(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(json_object_stream, 'CHUNK', chunk)
    meta = {f'id{i}': {'title': f'标题 {i} ünïcode', 'pv': f'k#:#{i}', 'n': [i, 1.5, None]} for i in range(40)}
    meta['plain'] = 'not an object'
    path = tmp_path / 'meta.json'
    path.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding='utf-8')
    entries = list(iter_object_entries(str(path)))
    assert [(k, v) for k, v, _, _ in entries] == list(meta.items())
    import os
    fd = os.open(path, os.O_RDONLY)
    try:
        for key, value, start, length in entries:
            assert read_entry(fd, start, length) == (key, value)
    finally:
        os.close(fd)
    (tmp_path / 'empty.json').write_text(' {\n} ')
    assert list(iter_object_entries(str(tmp_path / 'empty.json'))) == []


def test_m5product_records_come_back_from_the_meta_file(tmp_path):
    meta = {f'm{i}': {'title': f't{i}', 'pv': 'a#:#b', 'label': 'x' if i % 2 else 'y'} for i in range(30)}
    (tmp_path / 'meta.json').write_text(json.dumps(meta))
    (tmp_path / 'image').mkdir()
    for i in range(0, 30, 3):
        (tmp_path / 'image' / f'm{i}.JPG').write_bytes(b'x')
        (tmp_path / 'image' / f'm{i}.npy').write_bytes(b'x')
    dataset = M5ProductDataset(data_root=str(tmp_path), tokenizer=None, modalities=dict(image=None, table=None))
    assert len(dataset) == 30 and dataset.records[3]['fields']['image'] == 'image/m3.JPG'
    assert dataset.records[4]['fields']['image'] is None and dataset.meta['categories'] == ['x', 'y']
    features = M5ProductDataset(data_root=str(tmp_path), tokenizer=None,
                                modalities=dict(image=dict(source='feature')))
    assert features.records[6]['fields']['image'] == 'image/m6.npy'
