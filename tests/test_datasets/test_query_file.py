"""The text-query file: format checks, and the demo catalogue's queries judged from its factors."""
import json

import pytest

from m5mm.datasets import ManifestError
from m5mm.experiments.catalogues.demo import plan_demo_dataset
from m5mm.experiments.catalogues.demo.catalogue import NOUNS
from m5mm.experiments.catalogues.demo.design import CATEGORIES
from m5mm.experiments.catalogues.demo.queries import make_queries
from m5mm.datasets.query_file import load_query_file, write_query_file


def test_round_trip_and_malformed_lines(tmp_path):
    path = write_query_file(str(tmp_path / 'q.jsonl'), [dict(id='a', text='red shoes', relevance={'P1': 2, 'P2': 0.5})])
    assert load_query_file(path) == [dict(id='a', text='red shoes', relevance={'P1': 2.0, 'P2': 0.5})]
    bad_lines = [('{"text": "", "relevance": {}}', 'non-empty'), ('{"text": "x"}', 'relevance'),
                 ('{"text": "x", "relevance": {"P": -1}}', '>= 0'), ('{"text": "x", "relevance": []}', 'relevance'),
                 ('not json', 'Expecting')]
    for line, reason in bad_lines:
        (tmp_path / 'bad.jsonl').write_text('{"text": "ok", "relevance": {}}\n' + line + '\n')
        with pytest.raises(ManifestError, match=f'bad.jsonl:2: .*{reason}'):
            load_query_file(str(tmp_path / 'bad.jsonl'))
    (tmp_path / 'dup.jsonl').write_text('{"id": "a", "text": "x", "relevance": {}}\n' * 2)
    with pytest.raises(ManifestError, match='duplicate'):
        load_query_file(str(tmp_path / 'dup.jsonl'))
    with pytest.raises(FileNotFoundError):
        load_query_file(str(tmp_path / 'none.jsonl'))


def test_demo_queries_are_graded_by_category_department_and_colour():
    records = plan_demo_dataset(num_products=400, seed=0)
    gallery = {r.id: r for r in records if r.split == 'gallery'}
    queries = make_queries(records)
    assert len({q['id'] for q in queries}) == len(queries)
    for query in queries:
        assert set(query['relevance']) <= set(gallery)
        spec = next(c for c in CATEGORIES if query['text'].endswith(NOUNS[c.name][0]))
        color = query['text'][:-len(NOUNS[spec.name][0])].strip() or None
        for pid, record in gallery.items():
            same = record.category == spec.name
            if color is None:
                expected = 2 if same else 1 if CATEGORIES[record.instance.category].department == spec.department \
                    else 0
            else:
                expected = (2 if record.instance.color == color else 1) if same else 0
            assert query['relevance'].get(pid, 0) == expected, (query['text'], pid)
    nouns = [q for q in queries if q['text'] in {NOUNS[c.name][0] for c in CATEGORIES}]
    assert len(nouns) == len({r.category for r in gallery.values()}) == len(CATEGORIES)


def test_make_demo_dataset_writes_the_query_file(demo_root):
    queries = load_query_file(str(demo_root / 'queries.jsonl'))
    ids = {json.loads(line)['id'] for line in (demo_root / 'manifest.jsonl').read_text().splitlines()}
    assert queries and all(set(q['relevance']) <= ids for q in queries)
