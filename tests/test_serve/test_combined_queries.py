"""Weighted text+image queries, negative texts, category facets, and batched service = unbatched service."""
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from m5mm.serve import create_app
from m5mm.serve.queries import build_query
from m5mm.serve.search_service import SearchService, unit


def _client(app):
    return TestClient(app)


@pytest.fixture(scope='module')
def service(tiny_encoder, tiny_index):
    return SearchService(tiny_encoder, tiny_index)


def _query(service, **fields):
    return build_query(specs=service.encoder.preprocessor.specs, data_root=service.catalogue.data_root,
                       limits=service.limits, **fields)


def _image_path(service):
    row = next(r for r in service.catalogue.products.many(service.catalogue.index.ids).values() if r['image'])
    return row['image']


def test_weighted_query_is_the_normalised_weighted_sum_of_each_modality_alone(service):
    image = _image_path(service)
    query = _query(service, record={'text': 'red sneakers', 'image': image}, weights={'text': 0.7, 'image': 0.3})
    encoder = service.encoder
    text = encoder.encode_text(['red sneakers'])[0]
    pic = encoder.encode([dict(id='q', image=image)], modalities=['image'], data_root=service.catalogue.data_root,
                         progress=False).features[0]
    expected = unit(0.7 * unit(text) + 0.3 * unit(pic))
    np.testing.assert_allclose(service.vector(query), expected, atol=1e-5)
    fused = service.vector(_query(service, record={'text': 'red sneakers', 'image': image}))
    assert not np.allclose(fused, expected, atol=1e-3)   # without weights: the model's own fusion


def test_negative_text_is_subtracted(service):
    encoder = service.encoder
    plain = service.vector(_query(service, text='red sneakers'))
    query = _query(service, text='red sneakers', negative='red', negative_weight=0.8)
    text, red = encoder.encode_text(['red sneakers', 'red'])
    np.testing.assert_allclose(service.vector(query), unit(unit(text) - 0.8 * unit(red)), atol=1e-5)
    np.testing.assert_allclose(plain, text, atol=1e-5)
    pid = service.catalogue.index.ids[0]
    by_id = service.vector(_query(service, product_id=pid, negative='red'))
    np.testing.assert_allclose(by_id, unit(unit(service.catalogue.index.vector(pid)) - 0.5 * unit(red)), atol=1e-5)


def test_facets_count_categories_of_the_top_products(service):
    answer = service.search(_query(service, text='teapot', k=5))
    top = service.catalogue.search(service.vector(_query(service, text='teapot')), len(service.catalogue.index))
    depth = min(100, len(service.catalogue.index))
    rows = service.catalogue.products.many([pid for pid, _ in top[:depth]])
    expected = {}
    for pid, _ in top[:depth]:
        expected[rows[pid]['category']] = expected.get(rows[pid]['category'], 0) + 1
    assert {f['category']: f['count'] for f in answer['facets']} == expected
    counts = [f['count'] for f in answer['facets']]
    assert counts == sorted(counts, reverse=True) and answer['facet_depth'] == depth
    filtered = service.search(_query(service, text='teapot', k=5, category=answer['facets'][0]['category']))
    assert filtered['facets'] == answer['facets']   # facets do not narrow with the chosen category
    assert {r['category'] for r in filtered['results']} == {answer['facets'][0]['category']}


@pytest.mark.parametrize('body, status, message', [
    ({'text': 'shoes', 'weights': {'smell': 1}}, 400, 'unknown modalities'),
    ({'text': 'shoes', 'weights': {'image': 1}}, 400, 'does not have: image'),
    ({'text': 'shoes', 'weights': {'text': -1}}, 422, 'between 0 and 10'),
    ({'text': 'shoes', 'weights': {'text': 0}}, 422, 'all zero'),
    ({'text': 'shoes', 'weights': [1]}, 422, 'weights must be an object'),
    ({'id': 'D00000', 'weights': {'text': 1}}, 400, 'not to an id'),
    ({'text': 'shoes', 'negative_weight': 'lots', 'negative': 'red'}, 422, 'negative_weight must be a number'),
    ({'text': 'shoes', 'negative': 5}, 422, 'negative must be a string'),
    ({'text': 'shoes', 'filters': {'price': {'lt': 5}}}, 400, 'need a vector database'),
    ({'text': 'shoes', 'filters': {'price': {'near': 5}}}, 422, 'keys from'),
])
def test_bad_options_get_clear_errors(tiny_app, body, status, message):
    with _client(tiny_app) as client:
        response = client.post('/search', json=body)
    assert response.status_code == status, response.text
    assert message in response.json()['detail']


def test_form_weights_and_negative(tiny_app, service):
    image = (service.catalogue.data_root + '/' + _image_path(service))
    with open(image, 'rb') as handle:
        data = handle.read()
    with _client(tiny_app) as client:
        form = client.post('/search', data={'text': 'teapot', 'text_weight': '1', 'image_weight': '0.5',
                                            'negative': 'red', 'k': '5'},
                           files={'image': ('q.jpg', data, 'image/jpeg')}).json()
        assert len(form['results']) == 5 and form['facets']


def test_batched_service_answers_as_the_unbatched_one(tiny_encoder, tiny_index):
    texts = ('red sneakers', 'teapot', 'desk lamp', 'blue handbag', 'headphones', 'a', 'Lark deluxe teapot',
             'smartwatch sky')
    bodies = [{'text': t, 'k': 8} for t in texts]
    bodies += [{'text': 'teapot', 'negative': 'red', 'k': 8}, {'id': tiny_index.index.ids[3], 'k': 8}]
    plain = create_app(tiny_encoder, tiny_index, max_batch=1)
    with _client(plain) as client:
        expected = [client.post('/search', json=b).json() for b in bodies]
    batched = create_app(tiny_encoder, tiny_index, max_batch=32, max_wait_ms=50)
    got = [None] * len(bodies)

    def ask(i):
        with _client(batched) as client:
            got[i] = client.post('/search', json=bodies[i]).json()
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for want, have in zip(expected, got):
        assert [r['id'] for r in have['results']] == [r['id'] for r in want['results']]
        np.testing.assert_allclose([r['score'] for r in have['results']], [r['score'] for r in want['results']],
                                   atol=1e-5)
    with _client(batched) as client:
        health = client.get('/health').json()['micro_batching']
    assert health['max_batch'] == 32 and health['forwards'] < len(bodies) - 1
