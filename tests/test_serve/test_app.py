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


def _json(text: str) -> dict:
    return dict(content=text.encode(), headers={'content-type': 'application/json'})


DEEP = '[' * 50_000 + ']' * 50_000


@pytest.mark.parametrize('kwargs, status, message', [
    (dict(files={'image': ('x.jpg', b'this is not an image', 'image/jpeg')}), 400, 'corrupt image'),
    (dict(files={'image': ('x.jpg', b'\0' * (3 * 1024 * 1024), 'image/jpeg')}), 413, 'larger than the limit'),
    (dict(files=[('image', ('a.jpg', b'a', 'image/jpeg')), ('image', ('b.jpg', b'b', 'image/jpeg'))]), 400,
     'at most one image file'),
    (dict(json={'text': '   '}), 400, 'empty query'),
    (dict(json={}), 400, 'empty query'),
    (dict(json={'id': 'D99999'}), 404, 'unknown product id'),
    (dict(content=b'{"text": ', headers={'content-type': 'application/json'}), 400, 'malformed JSON'),
    (dict(content=b'[1, 2]', headers={'content-type': 'application/json'}), 400, 'must be an object'),
    (dict(content=b'text=shoes', headers={'content-type': 'text/plain'}), 415, 'application/json'),
    (dict(json={'text': 'shoes', 'k': 0}), 422, 'k must be between 1 and 100'),
    (dict(json={'text': 'shoes', 'k': 101}), 422, 'k must be between 1 and 100'),
    (dict(json={'text': 'shoes', 'k': 'many'}), 422, 'k must be an integer'),
    (dict(json={'text': 'shoes', 'k': [[1]]}), 422, 'k must be an integer, got list'),
    (_json('{"text": "shoes", "k": 1e400}'), 400, 'the number 1e400 is out of range'),
    (_json('{"text": "shoes", "k": 1e999}'), 400, 'the number 1e999 is out of range'),
    (_json('{"text": "shoes", "k": -1e400}'), 400, 'out of range'),
    (_json('{"text": "shoes", "k": Infinity}'), 400, 'Infinity is not a JSON value'),
    (_json('{"text": "shoes", "k": NaN}'), 400, 'NaN is not a JSON value'),
    (_json('{"text": "shoes", "k": 1' + '0' * 5000 + '}'), 400, 'malformed JSON'),
    (_json('{"text": "shoes", "k": ' + DEEP + '}'), 400, 'nested too deeply'),
    (_json(DEEP), 400, 'nested too deeply'),
    (_json('{"k": ' + '[' * 100_000 + ']' * 100_000 + '}'), 413,
     'the JSON body has 100001 brackets and commas, over the limit of 100000'),
    (dict(files={'text': (None, 'shoes'), 'k': (None, '1e400')}), 422, 'k must be an integer'),
    (dict(json={'text': 'shoes', 'colour': 'red'}), 400, 'unknown fields'),
    (dict(json={'text': 'shoes', 'id': 'D00000'}), 400, 'either an id or a query'),
    (dict(json={'text': 'shoes', 'category': 'spaceships'}), 400, 'unknown category'),
    (dict(json={'text': 5}), 422, 'text must be a string, got 5'),
    (dict(json={'record': {'image': '../../../etc/passwd'}}), 400, 'not a file inside the catalogue'),
    (dict(json={'record': {'image': '/etc/hostname'}}), 400, 'not a file inside the catalogue'),
    (dict(json={'record': {'image': {'base64': '%%%'}}}), 400, 'not valid base64'),
    (dict(json={'record': {'image': 5}}), 422, 'record.image must be {"base64": ...} or a path'),
    (dict(json={'record': {'text': ['a', 'list']}}), 422, 'record.text must be a string, got list'),
    (dict(json={'record': {'text': 5}}), 422, 'record.text must be a string, got 5'),
    (dict(json={'record': {'table': [['a', 'b', 'c']]}}), 422, 'record.table: table: expected [key, value] pairs'),
    (dict(json={'record': {'table': {'a': {'b': 'c'}}}}), 422, 'record.table: table: a value must be'),
    (_json('{"record": {"table": [[' + '[' * 900 + ']' * 900 + ', "x"]]}}'), 422, 'a key must be a string'),
    (dict(json={'record': {'smell': 'roses'}}), 400, 'unknown fields'),
    (dict(data={'text': 'shoes', 'evil': 'x'}, files={'image': ('x.jpg', b'', 'image/jpeg')}), 400, 'unknown form'),
    # allowed by the body limit, refused by a field limit before the tokenizer runs (finding 3 of issue 21)
    (dict(json={'text': 'red sneakers ' * 150_000}), 413,
     'text has 1950000 characters, over the limit of 2304 (--max-text-chars)'),
    (dict(json={'record': {'text': 'x' * 2305}}), 413, 'record.text has 2305 characters, over the limit of 2304'),
    (dict(json={'record': {'table': [['k', 'v']] * 257}}), 413,
     'record.table has 257 pairs, over the limit of 256 (--max-table-pairs)'),
    (dict(json={'record': {'table': [['k', 'v']] * 100_000}}), 413,
     'brackets and commas, over the limit of 100000'),
    (dict(json={'record': {'table': {'colour': 'red ' * 1100}}}), 413,
     'record.table has 4405 characters in its keys and values, over the limit of 4096 (--max-table-chars)'),
    (dict(json={'record': {'table': 'a#:#' + 'b' * 5000}}), 413, 'record.table has 5004 characters'),
    (dict(json={'id': 'D' * 1025}), 413, 'id has 1025 characters, over the limit of 1024'),
    (dict(json={'text': 'shoes', 'category': 'c' * 1025}), 413, 'category has 1025 characters'),
    (dict(json={'record': {'image': 'images/' + 'a' * 5000}}), 413, 'record.image is a path of 5007 characters'),
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


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new('RGB', (width, height), (200, 30, 30)).save(buffer, format='PNG')
    return buffer.getvalue()


def test_limits_default_to_the_model_and_are_shown_in_health(client):
    limits = client.get('/health').json()['limits']
    assert limits == dict(max_text_chars=36 * 64, max_table_pairs=64 * 4, max_table_chars=64 * 64,
                          max_media_bytes=8 * 1024 * 1024, max_image_pixels=25_000_000, max_k=100,
                          max_name_chars=1024, max_path_chars=4096, max_json_items=100_000)


def test_a_text_at_the_limit_is_served_as_the_encoder_embeds_it(client, tiny_encoder, tiny_index):
    text = ('red leather sneakers with white soles ' * 100)[:36 * 64]
    response = client.post('/search', json={'text': text, 'k': 5})
    assert response.status_code == 200, response.text
    vector = tiny_encoder.encode_text([text])[0]
    assert [r['id'] for r in response.json()['results']] == _expected(tiny_index, vector, 5)


def test_configured_limits_refuse_each_field_with_413_and_allow_up_to_the_limit(tiny_encoder, tiny_index, demo_root):
    import base64
    limits = dict(max_text_chars=20, max_table_pairs=2, max_table_chars=12, max_media_bytes=2000,
                  max_image_pixels=100 * 100)
    small, wide = _png(100, 100), _png(101, 100)
    photo = (demo_root / 'images' / 'D00000.jpg').read_bytes()
    assert len(photo) > 2000 and len(small) < 2000
    with TestClient(create_app(tiny_encoder, tiny_index, max_k=7, limits=limits)) as client:
        assert client.get('/health').json()['limits']['max_table_pairs'] == 2
        allowed = [dict(json={'text': 'x' * 20}), dict(json={'record': {'text': 'y' * 20}}),
                   dict(json={'record': {'table': [['size', 'xl'], ['fit', 'm']]}}),
                   dict(json={'record': {'table': {'a': 'b' * 11}}}),
                   dict(json={'text': 'shoes', 'k': 7}),
                   dict(files={'image': ('s.png', small, 'image/png')}),
                   dict(json={'record': {'image': {'base64': base64.b64encode(small).decode()}}})]
        for kwargs in allowed:
            assert client.post('/search', **kwargs).status_code == 200, kwargs
        refused = [
            (dict(json={'text': 'x' * 21}), 'text has 21 characters, over the limit of 20 (--max-text-chars)'),
            (dict(files={'text': (None, 'x' * 21)}), 'text has 21 characters, over the limit of 20'),
            (dict(json={'record': {'text': 'y' * 21}}), 'record.text has 21 characters, over the limit of 20'),
            (dict(json={'record': {'table': [['a', 'b']] * 3}}),
             'record.table has 3 pairs, over the limit of 2 (--max-table-pairs)'),
            (dict(json={'record': {'table': 'a#:#b#;#c#:#d#;#e#:#f'}}), 'record.table has 21 characters'),
            (dict(json={'record': {'table': {'a': 'b' * 12}}}),
             'record.table has 13 characters in its keys and values, over the limit of 12 (--max-table-chars)'),
            (dict(files={'image': ('p.jpg', photo, 'image/jpeg')}),
             f'image has {len(photo)} bytes, over the limit of 2000 bytes (--max-media-mb)'),
            (dict(json={'record': {'image': {'base64': base64.b64encode(photo).decode()}}}),
             'record.image holds about'),
            (dict(files={'image': ('w.png', wide, 'image/png')}),
             'image is 101 x 100 pixels, over the limit of 10000 pixels (--max-image-pixels)'),
            (dict(json={'record': {'image': {'base64': base64.b64encode(wide).decode()}}}),
             'record.image is 101 x 100 pixels'),
        ]
        for kwargs, message in refused:
            response = client.post('/embed', **kwargs)
            assert response.status_code == 413 and message in response.json()['detail'], response.text
        response = client.post('/search', json={'text': 'shoes', 'k': 8})
        assert response.status_code == 422 and 'between 1 and 7' in response.json()['detail']
    with pytest.raises(ValueError, match='max_text_chars must be a positive integer'):
        create_app(tiny_encoder, tiny_index, limits=dict(max_text_chars=0))
    with pytest.raises(ValueError, match='unknown request limits'):
        create_app(tiny_encoder, tiny_index, limits=dict(max_title_chars=10))


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
