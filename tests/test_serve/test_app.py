"""The search service through an in-process client: answers equal direct computations, bad requests 4xx."""
import io
import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from m5mm.serve import CatalogueIndex, IndexMismatchError, create_app


@pytest.fixture(scope='module')
def client(tiny_app):
    with TestClient(tiny_app) as c:
        yield c


def _manifest(demo_root):
    return {r['id']: r for r in map(json.loads, (demo_root / 'manifest.jsonl').read_text().splitlines())}


def _expected(index, vector, k, exclude=None, category=None, manifest=None):
    """Brute force: inner products with every indexed vector, best first, ties by index order."""
    vectors = np.stack([index.index.vector(pid) for pid in index.index.ids])
    scores = vectors.astype(np.float64) @ np.asarray(vector, np.float64)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    ids = [index.index.ids[i] for i in order if index.index.ids[i] != exclude]
    if category is not None:
        ids = [pid for pid in ids if manifest[pid]['category'] == category]
    return ids[:k]


def test_health_categories_and_products(client, tiny_index, demo_root):
    health = client.get('/health').json()
    assert health['status'] == 'ok' and health['products'] == 80 and health['dim'] == 32
    assert health['catalogue'] == str(demo_root) and health['model_fingerprint'] == tiny_index.info['model'][
        'fingerprint']
    manifest = _manifest(demo_root)
    assert client.get('/categories').json()['categories'] == sorted({r['category'] for r in manifest.values()})
    product = client.get('/products/D00000').json()
    assert product['title'] == manifest['D00000']['text'] and product['category'] == manifest['D00000']['category']
    thumb = client.get(product['thumbnail'])
    assert thumb.status_code == 200 and thumb.headers['content-type'] == 'image/jpeg'
    assert Image.open(io.BytesIO(thumb.content)).size == (96, 96)
    assert client.get('/products/nope').status_code == 404


def test_text_image_id_and_record_searches_equal_direct_computations(client, tiny_encoder, tiny_index, demo_root):
    response = client.post('/search', json={'text': 'red sneakers', 'k': 5}).json()
    vector = tiny_encoder.encode_text(['red sneakers'])[0]
    assert [r['id'] for r in response['results']] == _expected(tiny_index, vector, 5)
    assert response['results'][0]['score'] == pytest.approx(float(vector @ tiny_index.index.vector(
        response['results'][0]['id'])), rel=1e-5)
    image = (demo_root / 'images' / 'D00000.jpg').read_bytes()
    response = client.post('/search', files={'image': ('photo.jpg', image, 'image/jpeg')}, data={'k': '4'}).json()
    assert [r['id'] for r in response['results']] == _expected(tiny_index, tiny_encoder.encode_image([image])[0], 4)
    assert response['query'] == {'modalities': ['image']}
    both = client.post('/search', files={'image': ('p.jpg', image, 'image/jpeg')}, data={'text': 'handbag'}).json()
    combined = tiny_encoder.encode([{'text': 'handbag', 'image': image}], progress=False).features[0]
    assert [r['id'] for r in both['results']] == _expected(tiny_index, combined, 10)
    like = client.post('/search', json={'id': 'D00000', 'k': 6}).json()
    assert [r['id'] for r in like['results']] == _expected(tiny_index, tiny_index.index.vector('D00000'), 6,
                                                           exclude='D00000')
    record = {'text': 'Orbis handbag', 'table': [['style', 'sport']], 'image': 'images/D00000.jpg'}
    got = client.post('/search', json={'record': record, 'k': 3}).json()
    vector = tiny_encoder.encode([record], data_root=str(demo_root), progress=False).features[0]
    assert [r['id'] for r in got['results']] == _expected(tiny_index, vector, 3)
    embedded = client.post('/embed', json={'record': record}).json()
    np.testing.assert_allclose(embedded['embedding'], vector, rtol=1e-6, atol=1e-6)


def test_category_filter(client, tiny_encoder, tiny_index, demo_root):
    manifest = _manifest(demo_root)
    response = client.post('/search', json={'text': 'teapot', 'k': 4, 'category': 'teapot'}).json()
    vector = tiny_encoder.encode_text(['teapot'])[0]
    assert [r['id'] for r in response['results']] == _expected(tiny_index, vector, 4, category='teapot',
                                                               manifest=manifest)
    assert {r['category'] for r in response['results']} == {'teapot'}


@pytest.mark.parametrize('kwargs, status, message', [
    (dict(files={'image': ('x.jpg', b'this is not an image', 'image/jpeg')}), 400, 'corrupt image'),
    (dict(files={'image': ('x.jpg', b'\0' * (3 * 1024 * 1024), 'image/jpeg')}), 413, 'larger than the limit'),
    (dict(json={'text': '   '}), 400, 'empty query'),
    (dict(json={}), 400, 'empty query'),
    (dict(json={'id': 'D99999'}), 404, 'unknown product id'),
    (dict(content=b'{"text": ', headers={'content-type': 'application/json'}), 400, 'malformed JSON'),
    (dict(content=b'[1, 2]', headers={'content-type': 'application/json'}), 400, 'must be an object'),
    (dict(content=b'text=shoes', headers={'content-type': 'text/plain'}), 415, 'application/json'),
    (dict(json={'text': 'shoes', 'k': 0}), 400, 'k must be between'),
    (dict(json={'text': 'shoes', 'k': 'many'}), 400, 'k must be an integer'),
    (dict(json={'text': 'shoes', 'colour': 'red'}), 400, 'unknown fields'),
    (dict(json={'text': 'shoes', 'id': 'D00000'}), 400, 'either an id or a query'),
    (dict(json={'text': 'shoes', 'category': 'spaceships'}), 400, 'unknown category'),
    (dict(json={'record': {'image': '../../../etc/passwd'}}), 400, 'not a file inside the catalogue'),
    (dict(json={'record': {'image': '/etc/hostname'}}), 400, 'not a file inside the catalogue'),
    (dict(json={'record': {'image': {'base64': '%%%'}}}), 400, 'not valid base64'),
    (dict(json={'record': {'text': ['a', 'list']}}), 400, "field 'text'"),
    (dict(json={'record': {'smell': 'roses'}}), 400, 'unknown fields'),
    (dict(data={'text': 'shoes', 'evil': 'x'}, files={'image': ('x.jpg', b'', 'image/jpeg')}), 400, 'unknown form'),
])
def test_bad_requests_get_a_clear_4xx_and_the_server_keeps_serving(client, kwargs, status, message):
    response = client.post('/search', **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()['detail']
    assert client.post('/search', json={'text': 'red sneakers', 'k': 2}).status_code == 200


def test_base64_media_in_a_json_record(client, tiny_encoder, demo_root):
    import base64
    image = (demo_root / 'images' / 'D00000.jpg').read_bytes()
    got = client.post('/embed', json={'record': {'image': {'base64': base64.b64encode(image).decode()}}}).json()
    np.testing.assert_allclose(got['embedding'], tiny_encoder.encode_image([image])[0], rtol=1e-6, atol=1e-6)


def test_nothing_outside_the_catalogue_is_served(tiny_encoder, demo_root, tmp_path):
    """A catalogue whose manifest names files outside it (by '..' and by a symlink): no thumbnail, ever."""
    root = tmp_path / 'shop'
    (root / 'images').mkdir(parents=True)
    shutil.copyfile(demo_root / 'images' / 'D00000.jpg', root / 'images' / 'ok.jpg')
    shutil.copyfile(demo_root / 'images' / 'D00000.jpg', tmp_path / 'secret.jpg')
    (root / 'images' / 'link.jpg').symlink_to(tmp_path / 'secret.jpg')
    lines = [dict(id='ok', text='fine', image='images/ok.jpg', category='a'),
             dict(id='up', text='escapes', image='../secret.jpg', category='a'),
             dict(id='link', text='links out', image='images/link.jpg', category='a')]
    (root / 'manifest.jsonl').write_text('\n'.join(json.dumps(line) for line in lines) + '\n')
    index = CatalogueIndex.build(tiny_encoder, str(root), str(tmp_path / 'index'), progress=False)
    with TestClient(create_app(tiny_encoder, index)) as client:
        assert client.get('/products/ok/thumbnail').status_code == 200
        for pid in ('up', 'link', '..%2Fsecret.jpg', '..%2F..%2F..%2Fetc%2Fpasswd'):
            assert client.get(f'/products/{pid}/thumbnail').status_code == 404
        for path in ('/static/..%2F..%2Fapi%2Fexport.py', '/static/../../etc/passwd', '/static/%2e%2e/app.py'):
            response = client.get(path)
            assert response.status_code == 404 and b'import' not in response.content
        assert client.get('/static/app.js').status_code == 200


def test_an_index_of_another_model_is_refused(tiny_model_dir, tiny_index):
    import torch

    from m5mm.api import ProductEncoder
    other = ProductEncoder.from_pretrained(tiny_model_dir, device='cpu')
    with torch.no_grad():
        next(other.model.parameters()).add_(1.0)
    with pytest.raises(IndexMismatchError, match='rebuild it with tools/build_index.py'):
        create_app(other, tiny_index)
    with pytest.raises(IndexMismatchError, match='not a catalogue index'):
        CatalogueIndex.load(str(tiny_model_dir))
