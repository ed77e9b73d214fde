"""Compressed search indexes against exact search: bytes per product, recall@10 and query latency.

    python benchmarks/index_compression.py [--gallery-size 100000] [--dim 256] [--queries 500]
                                           [--out benchmarks/results/index_compression.json]

The gallery is synthetic as in benchmarks/search_throughput.py (clustered Gaussian vectors, L2-normalised;
queries are new draws of the same mixture). Methods: flat (exact float32), int8 (scalar quantiser), binary
(sign bits; rescore x 10 candidates re-scored with int8 codes) at several rescore values, and HNSW. Bytes:
the saved index files per product (binary: the bits held in memory, plus the int8 codes read from a
memory map). Latency: the best of --repeats runs of all queries at once, per query.
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from m5mm.evaluation.search import SearchIndex  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gallery-size', type=int, default=100000)
    parser.add_argument('--dim', type=int, default=256)
    parser.add_argument('--queries', type=int, default=500)
    parser.add_argument('--clusters', type=int, default=1000)
    parser.add_argument('--noise', type=float, default=2.0)
    parser.add_argument('--k', type=int, default=10)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=None)
    return parser.parse_args(argv)


def make_data(n: int, dim: int, queries: int, clusters: int, noise: float, seed: int):
    """Clustered unit vectors: a gallery of ``n`` and ``queries`` new draws."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)

    def draw(count):
        x = centres[rng.integers(0, clusters, count)] + noise * rng.standard_normal((count, dim), dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    return draw(n), draw(queries)


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


def measure(name, gallery, queries, exact, args, **kwargs) -> dict:
    ids = [str(i) for i in range(len(gallery))]
    start = time.perf_counter()
    index = SearchIndex.build(gallery, ids, **kwargs)
    build = time.perf_counter() - start
    best, found = float('inf'), None
    for _ in range(args.repeats):
        start = time.perf_counter()
        found = index.search(queries, args.k).indices
        best = min(best, time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        index.save(tmp)
        files = {f: os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp) if f not in ('meta.json', 'ids.npy')}
    memory = sum(v for f, v in files.items() if f != 'codes.npy')
    return dict(method=name, options={k: v for k, v in kwargs.items()}, build_s=build,
                ms_per_query=1000 * best / len(queries), recall=recall(found, exact) if exact is not None else 1.0,
                bytes_per_product=memory / len(gallery), disk_bytes_per_product=sum(files.values()) / len(gallery),
                files=files), found


def run(args) -> dict:
    gallery, queries = make_data(args.gallery_size, args.dim, args.queries, args.clusters, args.noise, args.seed)
    rows = []
    flat, exact = measure('flat (float32, exact)', gallery, queries, None, args, index_type='flat', backend='faiss')
    rows.append(flat)
    for name, kwargs in [('int8', dict(index_type='int8')),
                         ('binary, rescore 4', dict(index_type='binary', rescore=4)),
                         ('binary, rescore 10', dict(index_type='binary', rescore=10)),
                         ('binary, rescore 40', dict(index_type='binary', rescore=40)),
                         ('hnsw (float32)', dict(index_type='hnsw'))]:
        rows.append(measure(name, gallery, queries, exact, args, **kwargs)[0])
    return dict(rows=rows, gallery_size=args.gallery_size, dim=args.dim, queries=args.queries, k=args.k,
                clusters=args.clusters, noise=args.noise, seed=args.seed, repeats=args.repeats,
                machine=dict(processor=platform.processor() or platform.machine(), cpus=os.cpu_count(),
                             load_average=os.getloadavg()))


def format_table(report: dict) -> str:
    lines = [f'| method | bytes / product in memory | on disk | recall@{report["k"]} | ms / query | build s |',
             '|---|---|---|---|---|---|']
    for r in report['rows']:
        lines.append(f'| {r["method"]} | {r["bytes_per_product"]:.0f} | {r["disk_bytes_per_product"]:.0f} | '
                     f'{r["recall"]:.3f} | {r["ms_per_query"]:.3f} | {r["build_s"]:.1f} |')
    return '\n'.join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    report = run(args)
    print(format_table(report))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    main()
