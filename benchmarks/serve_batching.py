"""Micro-batched service against one forward per request: throughput and latency at 1 / 8 / 32 clients.

    python benchmarks/serve_batching.py                                  # demo setup, 1/8/32 clients, 15 s each
    python benchmarks/serve_batching.py --model MODEL_DIR --index INDEX_DIR --clients 1,8,32 --duration 30

The same model and index are served twice on loopback (tools/serve.py as its own process): with
``--max-batch 1`` (each request embedded on its own, as before micro-batching) and with ``--max-batch
32 --max-wait-ms 5`` (the default). For each number of clients, N threads send text queries (distinct
product titles, k=10) back to back for --duration seconds; reported: requests/s, p50 / p99 latency,
errors, and the mean records per forward from /health. The two services alternate per client count,
so both see the same machine load. Without --model/--index the demo setup of
benchmarks/serve_latency.py is prepared (tiny SCALE model, demo catalogue). JSON in benchmarks/results/.
"""
import argparse
import json
import platform
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'benchmarks'))

from serve_latency import free_port, prepare_demo, run_clients, start_server  # noqa: E402

SETTINGS = {'one per forward': ['--max-batch', '1'], 'micro-batched': ['--max-batch', '32', '--max-wait-ms', '5']}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add('--model', help='model folder (default: prepare the demo setup)')
    add('--index', help='index folder built with --model')
    add('--work-dir', default=str(REPO / 'work_dirs' / 'serve_latency'))
    add('--num-products', type=int, default=400)
    add('--steps', type=int, default=4)
    add('--clients', default='1,8,32')
    add('--duration', type=float, default=15.0)
    add('--out', default=str(REPO / 'benchmarks' / 'results' / 'serve_batching.json'))
    return parser.parse_args(argv)


def titles(index_dir: Path) -> list:
    import sqlite3
    conn = sqlite3.connect(f'file:{index_dir / "products.sqlite"}?mode=ro', uri=True)
    rows = [r[0] for r in conn.execute('SELECT title FROM products WHERE title IS NOT NULL')]
    conn.close()
    return rows or ['red sneakers']


def load(base_url: str, texts: list, clients: int, duration: float) -> dict:
    import httpx
    latencies, errors, lock = [], [0], threading.Lock()
    stop = time.perf_counter() + duration

    def client_loop(seed: int) -> None:
        turn = seed * 7919
        with httpx.Client(base_url=base_url, timeout=120) as client:
            while time.perf_counter() < stop:
                start = time.perf_counter()
                try:
                    ok = client.post('/search', json={'text': texts[turn % len(texts)], 'k': 10}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies.append(time.perf_counter() - start)
                    errors[0] += not ok
                turn += 1

    wall = run_clients(client_loop, clients)
    ms = np.array(latencies) * 1000
    return dict(requests=len(latencies), errors=errors[0], requests_per_s=len(latencies) / wall,
                p50_ms=float(np.percentile(ms, 50)), p99_ms=float(np.percentile(ms, 99)))


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.model and args.index:
        model, index = Path(args.model), Path(args.index)
    else:
        model, index, _ = prepare_demo(Path(args.work_dir), args.num_products, args.steps)
    texts = titles(index)
    counts = [int(c) for c in args.clients.split(',')]
    servers = {}
    for name, flags in SETTINGS.items():
        port = free_port()
        servers[name] = (start_server(model, index, port, 10.0, extra=flags), f'http://127.0.0.1:{port}')
    results = {name: {} for name in SETTINGS}
    try:
        import httpx
        for clients in counts:
            for name, (_, url) in servers.items():
                load(url, texts, clients, min(3.0, args.duration))   # warm-up
                row = load(url, texts, clients, args.duration)
                row['mean_batch'] = (httpx.get(url + '/health').json().get('micro_batching') or {}).get('mean_batch', 1)
                results[name][clients] = row
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    print(f'\n{"clients":>8}{"setting":>18}{"req/s":>10}{"p50 ms":>10}{"p99 ms":>10}{"errors":>8}{"batch":>8}')
    for clients in counts:
        for name in SETTINGS:
            r = results[name][clients]
            print(f'{clients:>8}{name:>18}{r["requests_per_s"]:>10.1f}{r["p50_ms"]:>10.1f}{r["p99_ms"]:>10.1f}'
                  f'{r["errors"]:>8}{r["mean_batch"]:>8}')
        batched, single = results['micro-batched'][clients], results['one per forward'][clients]
        ratio = batched['requests_per_s'] / single['requests_per_s']
        print(f'{"":>8}{"throughput ratio":>18}{ratio:>10.2f}x')
    out = dict(model=str(model), index=str(index), duration_s=args.duration, cpu=platform.processor() or
               platform.machine(), python=platform.python_version(), results=results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    return out


if __name__ == '__main__':
    main()
