"""The Milvus adapter (embedded milvus-lite): round trip, filters, equal to exact search, served."""
import numpy as np
import pytest
from fastapi.testclient import TestClient

pytest.importorskip('pymilvus')
pytest.importorskip('milvus_lite')

from m5mm.serve import create_app  # noqa: E402
from m5mm.serve.errors import BadRequest  # noqa: E402
from m5mm.serve.vector_db import MilvusCatalogue, VectorDbError, record_attributes  # noqa: E402
from m5mm.serve.vector_db_export import export_catalogue, index_vectors  # noqa: E402


@pytest.fixture(scope='module')
def database(tiny_encoder, tiny_index, tmp_path_factory):
    uri = str(tmp_path_factory.mktemp('milvus') / 'catalogue.db')
    return export_catalogue(tiny_index, uri, encoder=tiny_encoder, modalities=['text', 'image'])


def test_unfiltered_search_equals_exact_search(database, tiny_index):
    vectors = index_vectors(tiny_index)
    rng = np.random.default_rng(0)
    for query in list(vectors[:5]) + list(rng.standard_normal((5, vectors.shape[1])).astype(np.float32)):
        exact = tiny_index.search(query, 10)
        got = database.search(query, 10)
        assert [pid for pid, _ in got] == [pid for pid, _ in exact]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in exact], rtol=1e-4, atol=1e-5)


def test_category_attribute_and_exclusion_filters(database, tiny_index):
    rows = tiny_index.products.many(tiny_index.index.ids)
    category = sorted({r['category'] for r in rows.values()})[0]
    query = index_vectors(tiny_index)[0]
    hits = database.search(query, 50, category=category, exclude_id=tiny_index.index.ids[0])
    members = [pid for pid, r in rows.items() if r['category'] == category and pid != tiny_index.index.ids[0]]
    assert sorted(pid for pid, _ in hits) == sorted(members)
    assert 'color' in database.attributes
    red = database.search(query, 80, filters={'color': {'eq': 'red'}})
    manifest_red = {pid for pid, attrs in _attributes(tiny_index).items() if attrs.get('color') == 'red'}
    assert {pid for pid, _ in red} == manifest_red and manifest_red
    with pytest.raises(BadRequest, match='unknown filter attribute'):
        database.search(query, 5, filters={'weight") or (1 == 1': {'lt': 1}})


def _attributes(index):
    import json
    out = {}
    for line in open(index.info['catalogue']['manifest']):
        record = json.loads(line)
        if record['id'] in index.index:
            out[record['id']] = record_attributes(record)
    return out


def test_numeric_filters_and_named_modality_vectors(tmp_path):
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((40, 8)).astype(np.float32)
    ids = [f'p{i}' for i in range(40)]
    products = [dict(id=pid, title=f'item {i}', category='a' if i % 2 else 'b', modalities='text',
                     attributes=record_attributes({'table': [['price', f'{i}.5'], ['size', 'M']]})) for i, pid in
                enumerate(ids)]
    named = {'text': rng.standard_normal((40, 8)).astype(np.float32)}
    db = MilvusCatalogue.write(str(tmp_path / 'x.db'), ids=ids, vectors=vectors, products=products,
                               model=dict(source='m', fingerprint='f', feature='joint'), modality_vectors=named)
    hits = db.search(vectors[0], 40, filters={'price': {'gte': 10, 'lt': 20}})
    assert sorted(pid for pid, _ in hits) == sorted(f'p{i}' for i in range(10, 20))
    by_text = db.search(named['text'][7], 1, field='vec_text')
    assert by_text[0][0] == 'p7'
    again = MilvusCatalogue.open(str(tmp_path / 'x.db'))
    assert again.attributes == ['price', 'size'] and len(again) == 40
    with pytest.raises(FileExistsError):
        MilvusCatalogue.write(str(tmp_path / 'x.db'), ids=ids, vectors=vectors, products=products,
                              model=dict(source='m', fingerprint='f', feature='joint'))
    with pytest.raises(VectorDbError, match='no collection'):
        MilvusCatalogue.open(str(tmp_path / 'x.db'), collection='other')


def test_served_through_the_database_with_filters(database, tiny_encoder, tiny_index):
    app = create_app(tiny_encoder, tiny_index, vector_db=database, max_batch=1)
    plain = create_app(tiny_encoder, tiny_index, max_batch=1)
    with TestClient(app) as client, TestClient(plain) as reference:
        body = {'text': 'red sneakers', 'k': 10}
        got, want = client.post('/search', json=body).json(), reference.post('/search', json=body).json()
        assert [r['id'] for r in got['results']] == [r['id'] for r in want['results']]
        assert got['facets'] == want['facets']
        red = client.post('/search', json=dict(body, filters={'color': {'eq': 'red'}})).json()
        colours = {pid: a.get('color') for pid, a in _attributes(tiny_index).items()}
        assert red['results'] and all(colours[r['id']] == 'red' for r in red['results'])
        bad = client.post('/search', json=dict(body, filters={'nope': {'eq': 'x'}}))
        assert bad.status_code == 400 and 'unknown filter attribute' in bad.json()['detail']
        assert client.get('/health').json()['search_backend'] == 'milvus'


def test_a_collection_of_another_model_is_refused(database, tiny_index, tmp_path):
    other = MilvusCatalogue(database.client, database.collection,
                            dict(database.info, model=dict(source='x', fingerprint='0' * 64, feature='joint')))

    class Encoder:
        fingerprint, feature, source = '1' * 64, 'joint', 'y'
    with pytest.raises(VectorDbError, match='write it again'):
        other.check_model(Encoder())
