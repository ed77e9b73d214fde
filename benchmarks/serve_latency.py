"""Latency and throughput of the search service under concurrent clients, with bad requests mixed in.

    python benchmarks/serve_latency.py                                   # demo index, 8 clients, 2 x 20 s
    python benchmarks/serve_latency.py --model MODEL_DIR --index INDEX_DIR --clients 16 --duration 60

Without --model/--index it prepares the demo setup in --work-dir (once; reused afterwards): the demo
catalogue (--num-products), the tiny SCALE config trained for --steps steps, its model folder
(tools/export_model.py --no-eval) and the index of the whole catalogue (tools/build_index.py).

The service runs as its own process (tools/serve.py on loopback). Two phases of --duration seconds
each, N client threads sending requests back to back: 'clean' (text, image upload and product-id
queries in turn) and 'mixed' (the same, plus --bad-fraction of bad requests: non-image bytes, an
empty query, an unknown id, malformed JSON and an upload over the size limit). Every good request
must answer 200 and every bad one its 4xx; anything else is an error. Reported per phase and kind:
requests, errors, p50 / p99 latency (ms) and requests/s; JSON in benchmarks/results/.
"""
import argparse
import json
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
BAD = {'not_an_image': 400, 'empty_query': 400, 'unknown_id': 404, 'malformed_json': 400, 'too_large': 413}


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


def start_server(model, index, port: int, max_upload_mb: float):
    import httpx
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(REPO / 'tools' / 'serve.py'), str(model), '--index', str(index),
                             '--port', str(port), '--max-upload-mb', str(max_upload_mb)], env=env,
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


class Workload:
    """The requests of each kind, built from the catalogue."""

    def __init__(self, data_root: Path, ids, k: int, max_upload_mb: float) -> None:
        manifest = [json.loads(line) for line in (data_root / 'manifest.jsonl').read_text().splitlines()]
        query_file = data_root / 'queries.jsonl'
        self.texts = ([json.loads(line)['text'] for line in query_file.read_text().splitlines()]
                      if query_file.is_file() else [r['text'] for r in manifest if r.get('text')])
        self.images = [(data_root / r['image']).read_bytes() for r in manifest if r.get('image')][:50]
        self.ids, self.k = list(ids), k
        self.too_large = b'\0' * int((max_upload_mb + 0.5) * 1024 * 1024)

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

    start = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return records, time.perf_counter() - start


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
    print(f'{"kind":<16}{"requests":>10}{"errors":>8}{"p50 ms":>10}{"p99 ms":>10}{"req/s":>10}')
    for kind, r in rows.items():
        print(f'{kind:<16}{r["requests"]:>10}{r["errors"]:>8}{r["p50_ms"]:>10.1f}{r["p99_ms"]:>10.1f}'
              f'{r["requests_per_s"]:>10.1f}')


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
    ids = CatalogueIndex.load(str(index_dir)).index.ids
    workload = Workload(data_root, ids, args.k, args.max_upload_mb)
    port = free_port()
    server = start_server(model, index_dir, port, args.max_upload_mb)
    phases = {}
    try:
        base = f'http://127.0.0.1:{port}'
        for phase, bad in (('clean', 0.0), ('mixed', args.bad_fraction)):
            records, wall = run_phase(base, workload, clients=args.clients, duration=args.duration, bad_fraction=bad)
            phases[phase] = summarize(records, wall)
            print_table(f'{phase}: {args.clients} clients, {wall:.1f} s, bad fraction {bad}', phases[phase])
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = dict(phases=phases, clients=args.clients, duration_s=args.duration, bad_fraction=args.bad_fraction,
                  k=args.k, products=len(ids), model=str(model), index=str(index_dir),
                  machine=dict(platform=platform.platform(), cpus=os.cpu_count(), python=platform.python_version()))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as handle:
        json.dump(result, handle, indent=1)
    errors = sum(r['errors'] for rows in phases.values() for r in rows.values() if r is not rows.get('all good'))
    print(f'\nerrors: {errors}; results -> {args.out}')
    if errors:
        sys.exit(1)
    return result


if __name__ == '__main__':
    main()
