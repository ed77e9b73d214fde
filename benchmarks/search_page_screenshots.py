"""Screenshots of the search page of a running service, driven in headless Chromium as tests/test_serve/test_page.py.

    python tools/serve.py MODEL --index INDEX --port 8765 &
    python benchmarks/search_page_screenshots.py --url http://127.0.0.1:8765 --text fruit \
        --photo CATALOGUE/images/E00011.jpg --out docs/search_page_real_towers

Writes OUT_text.png (the typed query) and OUT_photo.png (the photo uploaded in the drop zone, text switched off),
each after the page shows the service's results; prints the ids, categories and modalities on each page.
"""
import argparse
import shutil


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--url', required=True, help='the running service, e.g. http://127.0.0.1:8765')
    parser.add_argument('--text', required=True, help='the typed query')
    parser.add_argument('--photo', required=True, help='the image file uploaded as the photo query')
    parser.add_argument('--out', required=True, help='prefix of the PNG files')
    return parser.parse_args(argv)


def cards(page) -> list:
    """(id, category, modalities it has) of every result card, in page order."""
    return page.eval_on_selector_all('.result-card', 'cs => cs.map(c => [c.dataset.id, '
                                     'c.querySelector(".category").textContent, '
                                     '[...c.querySelectorAll(".modality.has")].map(m => m.textContent).join(",")])')


def load_thumbnails(page) -> None:
    """Load every card's lazy thumbnail (a full-page screenshot shows those below the viewport blank otherwise)."""
    page.eval_on_selector_all('.result-card img', 'imgs => imgs.forEach(i => { i.loading = "eager"; })')
    page.wait_for_function("[...document.querySelectorAll('.result-card img')].every(i => i.complete)")
    page.wait_for_load_state('networkidle')


def shoot(page, status: str, path: str, label: str) -> None:
    """Search with what the form holds, wait for ``status`` in the status line and every thumbnail,
    save a full-page screenshot at ``path`` and print the result cards."""
    page.click('#search-button')
    page.wait_for_function(f"document.querySelector('#status').innerText.includes('{status}')")
    load_thumbnails(page)
    page.screenshot(path=path, full_page=True)
    print(label, cards(page))


def main(argv=None) -> None:
    args = parse_args(argv)
    from playwright.sync_api import sync_playwright
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=[
            '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'])
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        page.goto(args.url + '/')
        page.wait_for_function("document.querySelectorAll('#category option').length > 1")
        page.fill('#query-text', args.text)
        shoot(page, 'results for', f'{args.out}_text.png', f'text {args.text}')
        page.fill('#query-text', '')
        page.set_input_files('#image-input', args.photo)
        shoot(page, 'your photo', f'{args.out}_photo.png', f'photo {args.photo}')
        browser.close()


if __name__ == '__main__':
    main()
