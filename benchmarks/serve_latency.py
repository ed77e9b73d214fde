"""Latency and throughput of the search service under concurrent clients, with bad requests mixed in.

    python benchmarks/serve_latency.py                                   # demo index, 8 clients, 2 x 20 s
    python benchmarks/serve_latency.py --model MODEL_DIR --index INDEX_DIR --clients 16 --duration 60

Without --model/--index it prepares the demo setup in --work-dir (once; reused afterwards): the demo
catalogue (--num-products), the tiny SCALE config trained for --steps steps, its model folder
(tools/export_model.py --no-eval) and the index of the whole catalogue (tools/build_index.py).

The service runs as its own process (tools/serve.py on loopback). Two phases of --duration seconds
each, N client threads sending requests back to back: 'clean' (text, image upload and product-id
queries in turn) and 'mixed' (the same, plus --bad-fraction of adverse requests, each kind as often:
bad ones - non-image bytes, an empty query, an unknown id, malformed JSON, an upload over the size
limit, k = 1e400 / Infinity, JSON nested 50,000 deep, a wrong-typed record field -, ones over a
field limit - a text of almost the body limit, a 100,000-pair table, an image two rows over the
pixel limit - and heavy but allowed ones: a text right at the text limit, a record at every limit (text,
table pairs and characters, an image of the most pixels, as base64) and an uploaded image of the most
pixels). The limits are read from the service's GET /health. Every good or allowed request must
answer 200 and every bad one its 4xx; anything else is an error. Reported per phase and kind:
requests, errors, p50 / p99 latency (ms) and requests/s, and the good requests' p50 in the mixed
phase against the clean one (it must stay within --max-p50-ratio); JSON in benchmarks/results/.
"""
import argparse
import base64
import io
import json
import math
import os
import platform
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GOOD = ('text', 'image', 'id')
BAD = {'not_an_image': 400, 'empty_query': 400, 'unknown_id': 404, 'malformed_json': 400, 'too_large': 413,
       'k_1e400': 400, 'k_infinity': 400, 'deep_json': 400, 'wrong_type': 422,
       'text_over_limit': 413, 'table_over_limit': 413, 'image_over_limit': 413,
       'text_at_limit': 200, 'record_at_limit': 200, 'image_at_limit': 200}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add('--model', help='model folder (default: prepare the demo setup)')
    add('--index', help='index folder built with --model')
    add('--work-dir', default=str(REPO / 'work_dirs' / 'serve_latency'), help='where the demo setup is prepared')
    add('--num-products', type=int, default=400, help='demo catalogue size')
    add('--steps', type=int, default=4, help='training steps of the demo model')
    add('--clients', type=int, default=8)
    add('--duration', type=float, default=20.0, help='seconds per phase')
    add('--bad-fraction', type=float, default=0.2, help='share of bad requests in the mixed phase')
    add('--k', type=int, default=10)
    add('--max-upload-mb', type=float, default=2.0, help='the service\'s body limit (too_large sends more)')
    add('--max-image-pixels', type=int, default=None, help='the service\'s image limit (default: its own)')
    add('--max-p50-ratio', type=float, default=2.0,
        help='largest allowed mixed / clean ratio of the good requests\' p50 latency')
    add('--out', default=str(REPO / 'benchmarks' / 'results' / 'serve_latency.json'))
    return parser.parse_args(argv)


def run_tool(name: str, *args: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, str(REPO / 'tools' / f'{name}.py'), *args], check=True, env=env)


def prepare_demo(work_dir: Path, num_products: int, steps: int):
    """Demo catalogue -> tiny trained model -> model folder -> index (each step skipped when done)."""
    data, run, model, index = (work_dir / n for n in ('data', 'run', 'model', 'index'))
    if not (data / 'manifest.jsonl').is_file():
        from m5mm.experiments.catalogues.demo import make_demo_dataset
        make_demo_dataset(str(data), num_products=num_products, seed=0)
    if not (run / 'checkpoints').is_dir():
        run_tool('train', str(REPO / 'configs' / 'scale_5mod_tiny.py'), '--work-dir', str(run), '--max-steps',
                 str(steps), '--cfg-options', f'data_root={data}')
    if not (model / 'm5mm_model.json').is_file():
        run_tool('export_model', str(run), '--out', str(model), '--no-eval')
    if not (index / 'catalogue.json').is_file():
        run_tool('build_index', str(model), '--data-root', str(data), '--out', str(index))
    return model, index, data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def start_server(model, index, port: int, max_upload_mb: float, max_image_pixels=None, extra=()):
    import httpx
    env = dict(os.environ, PYTHONPATH=str(REPO))
    extra = list(extra) + (['--max-image-pixels', str(max_image_pixels)] if max_image_pixels else [])
    proc = subprocess.Popen([sys.executable, str(REPO / 'tools' / 'serve.py'), str(model), '--index', str(index),
                             '--port', str(port), '--max-upload-mb', str(max_upload_mb), *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f'the service exited: {proc.stderr.read().decode()[-2000:]}')
        try:
            if httpx.get(f'http://127.0.0.1:{port}/health', timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError('the service did not answer /health within 180 s')


def _png(width: int, height: int) -> bytes:
    """A PNG of ``width`` x ``height`` (a gradient: cheap to send, as costly to decode as any)."""
    from PIL import Image
    row = Image.linear_gradient('L').resize((width, 1))
    buffer = io.BytesIO()
    Image.merge('RGB', [row.resize((width, height))] * 3).save(buffer, format='PNG')
    return buffer.getvalue()


def _json(text: str) -> dict:
    return dict(content=text.encode(), headers={'content-type': 'application/json'})


def adverse_requests(texts, *, k: int, body: int, limits: dict) -> dict:
    """kind -> request (httpx keyword arguments, JSON encoded once) of the adverse kinds built from the
    service's ``limits``; each body fits within ``body`` bytes."""
    import httpx
    words = ' '.join(texts)
    at_limit = (words * (limits['max_text_chars'] // len(words) + 1))[:limits['max_text_chars']]
    pairs, chars = limits['max_table_pairs'], limits['max_table_chars']
    value = 'v' * max(chars // pairs - 1, 0)
    side = math.isqrt(limits['max_image_pixels'])
    big_image = _png(side, side)
    requests = {
        'k_1e400': _json('{"text": "shoes", "k": 1e400}'),
        'k_infinity': _json('{"text": "shoes", "k": Infinity}'),
        'deep_json': _json('{"text": "shoes", "k": ' + '[' * 50_000 + ']' * 50_000 + '}'),
        'wrong_type': dict(json={'record': {'text': 5}}),
        'text_over_limit': dict(json={'text': ('red sneakers ' * (body // 13))[:body - 64]}),
        'table_over_limit': dict(json={'record': {'table': [['k', 'v']] * 100_000}}),
        'image_over_limit': dict(files={'image': ('big.png', _png(side, side + 2), 'image/png')}),
        'text_at_limit': dict(json={'text': at_limit, 'k': k}),
        'record_at_limit': dict(json={'k': k, 'record': {
            'text': at_limit, 'table': [['k', value]] * pairs,
            'image': {'base64': base64.b64encode(big_image).decode()}}}),
        'image_at_limit': dict(files={'image': ('big.png', big_image, 'image/png')}, data={'k': str(k)}),
    }
    requests = {kind: _json(json.dumps(kwargs['json'])) if 'json' in kwargs else kwargs
                for kind, kwargs in requests.items()}
    too_big = [kind for kind, kwargs in requests.items()
               if len(httpx.Request('POST', 'http://127.0.0.1/search', **kwargs).read()) > body]
    if too_big:
        raise ValueError(f'{too_big} do not fit the body limit; raise --max-upload-mb')
    return requests


class Workload:
    """The requests of each kind, built from the catalogue and the service's limits (GET /health)."""

    def __init__(self, data_root: Path, ids, k: int, max_upload_mb: float, limits: dict) -> None:
        manifest = [json.loads(line) for line in (data_root / 'manifest.jsonl').read_text().splitlines()]
        query_file = data_root / 'queries.jsonl'
        self.texts = ([json.loads(line)['text'] for line in query_file.read_text().splitlines()]
                      if query_file.is_file() else [r['text'] for r in manifest if r.get('text')])
        self.images = [(data_root / r['image']).read_bytes() for r in manifest if r.get('image')][:50]
        self.ids, self.k = list(ids), k
        body = int(max_upload_mb * 1024 * 1024)
        self.too_large = b'\0' * (body + 512 * 1024)
        self.adverse = adverse_requests(self.texts, k=k, body=body, limits=limits)

    def send(self, client, kind: str, rng: random.Random):
        url = '/search'
        if kind == 'text':
            return client.post(url, json={'text': rng.choice(self.texts), 'k': self.k})
        if kind == 'image':
            return client.post(url, files={'image': ('q.jpg', rng.choice(self.images), 'image/jpeg')},
                               data={'k': str(self.k)})
        if kind == 'id':
            return client.post(url, json={'id': rng.choice(self.ids), 'k': self.k})
        if kind == 'not_an_image':
            return client.post(url, files={'image': ('q.jpg', b'plain text, not a photo', 'image/jpeg')})
        if kind == 'empty_query':
            return client.post(url, json={'text': '  '})
        if kind == 'unknown_id':
            return client.post(url, json={'id': 'no-such-product'})
        if kind == 'malformed_json':
            return client.post(url, content=b'{"text": ', headers={'content-type': 'application/json'})
        if kind in self.adverse:
            return client.post(url, **self.adverse[kind])
        return client.post(url, files={'image': ('big.jpg', self.too_large, 'image/jpeg')})


def run_phase(base_url: str, workload: Workload, *, clients: int, duration: float, bad_fraction: float):
    """Clients send requests back to back for ``duration`` s -> {kind: [(latency s, ok)]}, wall time."""
    import httpx
    records = {kind: [] for kind in (*GOOD, *BAD)}
    lock = threading.Lock()
    stop = time.perf_counter() + duration

    def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        turn = seed
        with httpx.Client(base_url=base_url, timeout=60) as client:
            while time.perf_counter() < stop:
                if rng.random() < bad_fraction:
                    kind = rng.choice(list(BAD))
                else:
                    kind, turn = GOOD[turn % len(GOOD)], turn + 1
                start = time.perf_counter()
                try:
                    status = workload.send(client, kind, rng).status_code
                except httpx.HTTPError:
                    status = None
                latency = time.perf_counter() - start
                ok = status == (BAD[kind] if kind in BAD else 200)
                with lock:
                    records[kind].append((latency, ok))

    return records, run_clients(client_loop, clients)


def run_clients(client_loop, clients: int) -> float:
    """Run ``client_loop(seed)`` in ``clients`` threads until all return; the wall time in seconds."""
    start = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def summarize(records, wall: float):
    rows = {}
    for kind, items in records.items():
        if not items:
            continue
        latency = np.array([t for t, _ in items]) * 1000
        rows[kind] = dict(requests=len(items), errors=sum(not ok for _, ok in items),
                          p50_ms=float(np.percentile(latency, 50)), p99_ms=float(np.percentile(latency, 99)),
                          requests_per_s=len(items) / wall)
    good = [r for kind, r in rows.items() if kind in GOOD]
    rows['all good'] = dict(requests=sum(r['requests'] for r in good), errors=sum(r['errors'] for r in good),
                            p50_ms=float(np.percentile([t * 1000 for k in GOOD for t, _ in records[k]], 50)),
                            p99_ms=float(np.percentile([t * 1000 for k in GOOD for t, _ in records[k]], 99)),
                            requests_per_s=sum(r['requests'] for r in good) / wall)
    return rows


def print_table(phase: str, rows) -> None:
    print(f'\n{phase}')
    print(f'{"kind":<18}{"requests":>10}{"errors":>8}{"p50 ms":>10}{"p99 ms":>10}{"req/s":>10}')
    for kind, r in rows.items():
        print(f'{kind:<18}{r["requests"]:>10}{r["errors"]:>8}{r["p50_ms"]:>10.1f}{r["p99_ms"]:>10.1f}'
              f'{r["requests_per_s"]:>10.1f}')


def good_p50_ratio(phases) -> float:
    """The good requests' p50 latency in the mixed phase over the clean phase's."""
    return phases['mixed']['all good']['p50_ms'] / phases['clean']['all good']['p50_ms']


def main(argv=None) -> dict:
    args = parse_args(argv)
    from m5mm.serve import CatalogueIndex
    if bool(args.model) != bool(args.index):
        sys.exit('give both --model and --index, or neither (the demo setup)')
    if args.model:
        model, index_dir = Path(args.model), Path(args.index)
        data_root = Path(CatalogueIndex.load(str(index_dir)).data_root)
    else:
        model, index_dir, data_root = prepare_demo(Path(args.work_dir), args.num_products, args.steps)
    import httpx
    ids = CatalogueIndex.load(str(index_dir)).index.ids
    port = free_port()
    server = start_server(model, index_dir, port, args.max_upload_mb, args.max_image_pixels)
    phases = {}
    try:
        base = f'http://127.0.0.1:{port}'
        limits = httpx.get(f'{base}/health', timeout=10).json()['limits']
        workload = Workload(data_root, ids, args.k, args.max_upload_mb, limits)
        for phase, bad in (('clean', 0.0), ('mixed', args.bad_fraction)):
            records, wall = run_phase(base, workload, clients=args.clients, duration=args.duration, bad_fraction=bad)
            phases[phase] = summarize(records, wall)
            print_table(f'{phase}: {args.clients} clients, {wall:.1f} s, bad fraction {bad}', phases[phase])
    finally:
        server.terminate()
        server.wait(timeout=30)
    ratio = good_p50_ratio(phases)
    print(f'\ngood requests\' p50 with the adverse mix: {phases["mixed"]["all good"]["p50_ms"]:.1f} ms vs '
          f'{phases["clean"]["all good"]["p50_ms"]:.1f} ms clean = {ratio:.2f}x (limit {args.max_p50_ratio}x)')
    result = dict(phases=phases, good_p50_ratio=ratio, max_p50_ratio=args.max_p50_ratio,
                  good_p50_within_limit=ratio <= args.max_p50_ratio, limits=limits, clients=args.clients,
                  duration_s=args.duration, bad_fraction=args.bad_fraction, max_upload_mb=args.max_upload_mb,
                  k=args.k, products=len(ids), model=str(model), index=str(index_dir),
                  machine=dict(platform=platform.platform(), cpus=os.cpu_count(), python=platform.python_version()))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as handle:
        json.dump(result, handle, indent=1)
    errors = sum(r['errors'] for rows in phases.values() for r in rows.values() if r is not rows.get('all good'))
    print(f'errors: {errors}; results -> {args.out}')
    if errors or ratio > args.max_p50_ratio:
        sys.exit(1)
    return result


if __name__ == '__main__':
    main()
