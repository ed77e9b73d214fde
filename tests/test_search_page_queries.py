"""benchmarks/search_page_queries.py: the mixed-modality gallery it indexes, the photo queries it picks and
the figures it reports per presence pattern."""
from __future__ import annotations

import json
from collections import Counter

from tests.script_module import load_script

ALL = ('text', 'table', 'image', 'video', 'audio')


def _bench():
    return load_script('benchmarks/search_page_queries.py')


def _record(i: int, **fields) -> dict:
    record = dict(id=f'P{i:03d}', category=f'c{i % 3}', split='query' if i < 6 else 'gallery',
                  text=f'title {i}', table=[['brand', 'x']], image=f'images/{i}.jpg', video=f'videos/{i}.mp4',
                  audio=f'audio/{i}.wav')
    record.update(fields)
    return record


def test_presence_patterns():
    pattern = _bench().pattern
    assert pattern(['text']) == 'text-only'
    assert pattern(['image']) == 'image-only'
    assert pattern(list(ALL)) == 'complete'
    assert pattern(['text', 'image']) == 'partial'


def test_mixed_manifest_reduces_a_third_each_and_leaves_the_held_out_products_out():
    bench = _bench()
    records = [_record(i) for i in range(300)]
    mixed = bench.mixed_manifest(records, {'P000', 'P001'}, seed=0)
    assert [r['id'] for r in mixed] == [r['id'] for r in records[2:]]
    counts = Counter(bench.pattern([m for m in ALL if r.get(m)]) for r in mixed)
    assert set(counts) == {'text-only', 'image-only', 'complete'}
    assert all(70 <= n <= 130 for n in counts.values()), counts
    by_id = {r['id']: r for r in records}
    for record in mixed:   # kept fields are the catalogue's own
        assert all(record[m] in (None, by_id[record['id']][m]) for m in ALL)
    assert bench.mixed_manifest(records, {'P000', 'P001'}, seed=0) == mixed
    assert bench.mixed_manifest(records, {'P000', 'P001'}, seed=1) != mixed
    # a product without the chosen modality stays as catalogued
    lacking = [_record(i, image=None, text=None) for i in range(30)]
    for record in bench.mixed_manifest(lacking, set(), seed=0):
        assert [m for m in ALL if record.get(m)] == ['table', 'video', 'audio']


def test_photo_queries_skip_wrong_images_and_other_splits(tmp_path):
    bench = _bench()
    records = [_record(i) for i in range(10)] + [_record(10, image=None, split='query')]
    (tmp_path / 'noise.json').write_text(json.dumps({'wrong_media': {'image': {'P001': 'other'}},
                                                     'corrupted_factors': {'image': ['P003']}}))
    assert [r['id'] for r in bench.photo_queries(str(tmp_path), records)] == ['P000', 'P002', 'P004', 'P005']


def test_scores_by_presence_pattern():
    bench = _bench()
    rows = [dict(id=str(i), score=1.0 - i / 100, category='fruit' if i in (0, 3, 4) else 'tool',
                 modalities=[['text'], ['image'], list(ALL), ['text', 'table']][i % 4]) for i in range(12)]
    out = bench.score_hits(rows, 'fruit', available=6)
    assert out['precision'] == 0.3 and out['ceiling'] == 0.6
    assert out['hits'] == {'text-only': 3, 'image-only': 3, 'complete': 2, 'partial': 2}
    assert out['correct'] == {'text-only': 2, 'image-only': 0, 'complete': 0, 'partial': 1}
    summary = bench.summarise([out, bench.score_hits(rows[1:], 'tool', available=20)])
    assert summary['precision'] == (0.3 + 0.8) / 2 and summary['ceiling'] == 0.8
    assert summary['text-only'] == dict(hits=5, correct=2 + 1, precision=0.6)   # ids 0, 4, 8 and 4, 8


def test_image_ranking_precision_and_same_item_first():
    import numpy as np
    bench = _bench()
    products = [dict(id=f'G{i}', category='a' if i < 5 else 'b', instance=f'i{i}') for i in range(12)]
    photos = [dict(id='Q0', category='a', instance='i0'), dict(id='Q1', category='b', instance='none')]
    gallery = np.eye(12, dtype=np.float32)
    queries = np.stack([gallery[0] + 0.1 * gallery[:5].sum(0), gallery[11] + 0.01])   # Q0 near the 'a's
    out = bench.image_ranking(queries, gallery, photos, products)
    assert out['same_item_first'] == 1 and out['queries_with_item'] == 1
    # Q0: the 5 'a's, then 5 'b's; Q1: G11, then the ties in gallery order G0..G8 (G5..G8 are 'b')
    assert out['precision'] == (5 / 10 + 5 / 10) / 2
