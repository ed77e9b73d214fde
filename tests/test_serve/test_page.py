"""The search page in a real headless Chromium: type a query, get the API's top-k as result cards.

The screenshot is saved as a test artifact: ``$M5MM_TEST_ARTIFACTS`` (default ``test_artifacts/``)
``/search_page.png``.
"""
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
ARTIFACTS = Path(os.environ.get('M5MM_TEST_ARTIFACTS', REPO / 'test_artifacts'))
NO_CHROMIUM = 'no chromium executable on PATH (Debian: apt-get install chromium); CI installs it in .ci/run'
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)


@pytest.fixture(scope='module')
def server_url(tiny_app):
    import uvicorn
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(tiny_app, host='127.0.0.1', port=port, log_level='warning'))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, 'uvicorn did not start'
    yield f'http://127.0.0.1:{port}'
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope='module')
def page(server_url):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'])
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        page.goto(server_url + '/')
        yield page
        browser.close()


def _card_ids(page):
    return page.eval_on_selector_all('.result-card', 'cards => cards.map(c => c.dataset.id)')


def test_typed_query_shows_the_api_top_k_and_a_click_searches_like_it(page, server_url, tiny_app):
    import httpx
    page.wait_for_function("document.querySelectorAll('#category option').length > 1")
    page.fill('#query-text', 'red sneakers')
    page.click('#search-button')
    page.wait_for_selector('.result-card')
    api = httpx.post(server_url + '/search', json={'text': 'red sneakers', 'k': 12}).json()['results']
    assert _card_ids(page) == [r['id'] for r in api]
    first = page.query_selector('.result-card')
    assert api[0]['category'] in first.inner_text() and f"{api[0]['score']:.3f}" in first.inner_text()
    assert 'red sneakers' in page.inner_text('#status')
    chips = page.eval_on_selector_all('.result-card', 'cards => cards.map(c => [...c.querySelectorAll(".modality")]'
                                      '.map(m => [m.textContent, m.classList.contains("has")]))')
    model = httpx.get(server_url + '/health').json()['modalities']
    for card, result in zip(chips, api):   # every model modality, marked as the product has it or not
        assert card == [[m, m in result['modalities']] for m in model]
    assert any(not has for card in chips for _, has in card)   # the demo catalogue has products lacking some
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state('networkidle')
    page.screenshot(path=str(ARTIFACTS / 'search_page.png'), full_page=True)
    assert (ARTIFACTS / 'search_page.png').stat().st_size > 10000

    target = api[1]['id']
    page.click(f'.result-card[data-id="{target}"]')
    page.wait_for_function(f"document.querySelector('.result-card') && "
                           f"!document.querySelector('.result-card[data-id=\"{target}\"]') && "
                           f"document.querySelector('#status').innerText.includes('products like')")
    like = httpx.post(server_url + '/search', json={'id': target, 'k': 12}).json()['results']
    assert _card_ids(page) == [r['id'] for r in like]


def test_category_filter_and_an_error_message(page, server_url):
    import httpx
    page.select_option('#category', 'teapot')
    page.fill('#query-text', 'teapot')
    page.click('#search-button')
    page.wait_for_function("document.querySelector('#status').innerText.includes('in teapot')")
    api = httpx.post(server_url + '/search', json={'text': 'teapot', 'k': 12, 'category': 'teapot'}).json()
    assert _card_ids(page) == [r['id'] for r in api['results']]
    page.set_input_files('#image-input', files=[{'name': 'x.jpg', 'mimeType': 'image/jpeg', 'buffer': b'no image'}])
    page.uncheck('#use-text')
    page.click('#search-button')
    page.wait_for_selector('#status.error')
    assert 'corrupt image' in page.inner_text('#status')


def test_facets_negative_and_weighted_photo_query(page, server_url, demo_root):
    import httpx
    page.select_option('#category', '')
    page.set_input_files('#image-input', files=[])
    page.check('#use-text')
    page.fill('#query-text', 'sneakers')
    page.fill('#negative', 'red')
    page.click('#search-button')
    page.wait_for_function("document.querySelector('#status').innerText.includes('but not')")
    api = httpx.post(server_url + '/search', json={'text': 'sneakers', 'negative': 'red', 'k': 12}).json()
    assert _card_ids(page) == [r['id'] for r in api['results']]
    chips = page.eval_on_selector_all('.facet', 'cs => cs.map(c => [c.dataset.category, '
                                      'c.querySelector(".count").textContent])')
    assert chips == [[f['category'], str(f['count'])] for f in api['facets']]
    chosen = api['facets'][1]['category'] if len(api['facets']) > 1 else api['facets'][0]['category']
    page.click(f'.facet[data-category="{chosen}"]')
    page.wait_for_function(f"document.querySelector('#status').innerText.includes('in {chosen}')")
    body = {'text': 'sneakers', 'negative': 'red', 'k': 12, 'category': chosen}
    narrowed = httpx.post(server_url + '/search', json=body).json()
    assert _card_ids(page) == [r['id'] for r in narrowed['results']]
    assert page.eval_on_selector('.facet.active', 'c => c.dataset.category') == chosen

    photo = sorted((demo_root / 'images').glob('*.jpg'))[0]
    page.fill('#negative', '')
    page.select_option('#category', '')
    page.set_input_files('#image-input', str(photo))
    page.check('#weighted')
    page.fill('#mix', '80')
    page.click('#search-button')
    page.wait_for_function("document.querySelector('#status').innerText.includes('20:80')")
    form = httpx.post(server_url + '/search', data={'text': 'sneakers', 'k': '12', 'text_weight': '0.2',
                                                    'image_weight': '0.8'},
                      files={'image': (photo.name, photo.read_bytes(), 'image/jpeg')}).json()
    assert _card_ids(page) == [r['id'] for r in form['results']]
    page.wait_for_load_state('networkidle')
    page.screenshot(path=str(ARTIFACTS / 'search_page_weighted.png'), full_page=True)
