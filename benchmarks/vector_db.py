"""Insert rate and query latency of FAISS (flat, HNSW) and Milvus (milvus-lite: FLAT, HNSW) at 100 k / 1 M vectors.

    python benchmarks/vector_db.py                          # 100k and 1M, dim 256, 50 queries
    python benchmarks/vector_db.py --sizes 100000 --dim 128 --queries 100

Random unit vectors stand in for product vectors (the cost of inserting and searching does not depend
on what they mean); each product has a category (one of 50) and a price, as the service's payload.
Per engine and size: build/insert rate (vectors/s, payload included for Milvus), p50 / p99 latency of
one query (k = 10), for Milvus also with a category + price filter, and recall@10 against exact search.
Milvus runs embedded (milvus-lite, the same pymilvus API as a Milvus cluster); its files go to a temporary
folder. JSON in benchmarks/results/vector_db.json.
"""
import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', default='100000,1000000')
    parser.add_argument('--dim', type=int, default=256)
    parser.add_argument('--queries', type=int, default=50)
    parser.add_argument('--engines', default='faiss_flat,faiss_hnsw,milvus_flat,milvus_hnsw')
    parser.add_argument('--out', default=str(REPO / 'benchmarks' / 'results' / 'vector_db.json'))
    parser.add_argument('--append', action='store_true', help='keep the other rows of an existing --out file')
    return parser.parse_args(argv)


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - start), dim)).astype(np.float32)
        out[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def latencies(search, queries) -> dict:
    times, hits = [], []
    for query in queries:
        start = time.perf_counter()
        hits.append(search(query))
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    return dict(p50_ms=float(np.percentile(ms, 50)), p99_ms=float(np.percentile(ms, 99))), hits


def recall(hits, exact) -> float:
    return float(np.mean([len(set(h) & set(e)) / len(e) for h, e in zip(hits, exact)]))


def run_faiss(kind: str, vectors, queries, exact) -> dict:
    from m5mm.evaluation.search import SearchIndex
    ids = [f'p{i}' for i in range(len(vectors))]
    start = time.perf_counter()
    options = dict(hnsw_m=16, ef_construction=64) if kind == 'hnsw' else {}   # Milvus's HNSW below: M 16, efC 64
    index = SearchIndex.build(vectors, ids, index_type=kind, metric='ip', **options)
    rate = len(vectors) / (time.perf_counter() - start)
    stats, hits = latencies(lambda q: [int(p[1:]) for p in index.search(q, 10).ids[0]], queries)
    return dict(insert_per_s=rate, **stats, recall_at_10=recall(hits, exact))


def run_milvus(kind: str, vectors, queries, exact, categories, prices) -> dict:
    from m5mm.serve.vector_db import MilvusCatalogue
    folder = tempfile.mkdtemp(prefix='m5mm_milvus_')
    try:
        ids = [f'p{i}' for i in range(len(vectors))]
        products = ({'id': pid, 'title': '', 'category': categories[i], 'modalities': 'text,image',
                     'attributes': {'price': float(prices[i])}} for i, pid in enumerate(ids))
        start = time.perf_counter()
        db = MilvusCatalogue.write(str(Path(folder) / 'bench.db'), ids=ids, vectors=vectors, products=products,
                                   model=dict(source='benchmark', fingerprint='-', feature='joint'),
                                   index_type=kind.upper(), batch_size=10_000)
        rate = len(vectors) / (time.perf_counter() - start)
        stats, hits = latencies(lambda q: [pid for pid, _ in db.search(q, 10)], queries)
        filtered, _ = latencies(lambda q: db.search(q, 10, category='c7', filters={'price': {'lt': 50}}), queries)
        size = sum(p.stat().st_size for p in Path(folder).rglob('*') if p.is_file())
        return dict(insert_per_s=rate, **stats, recall_at_10=recall([[int(p[1:]) for p in h] for h in hits], exact),
                    filtered_p50_ms=filtered['p50_ms'], filtered_p99_ms=filtered['p99_ms'], disk_mb=size / 2 ** 20)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv=None) -> dict:
    args = parse_args(argv)
    engines = args.engines.split(',')
    out = dict(dim=args.dim, queries=args.queries, cpu=platform.processor() or platform.machine(), results={})
    if args.append and Path(args.out).is_file():   # add engines / sizes to an earlier run's table
        out = json.loads(Path(args.out).read_text())
    for size in (int(s) for s in args.sizes.split(',')):
        vectors = unit_vectors(size, args.dim, seed=0)
        queries = unit_vectors(args.queries, args.dim, seed=1)
        exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10].tolist()
        rng = np.random.default_rng(2)
        categories = [f'c{i}' for i in rng.integers(0, 50, size)]
        prices = rng.uniform(0, 200, size)
        rows = out['results'].setdefault(str(size), {})
        for engine in engines:
            family, kind = engine.split('_')
            print(f'{size} vectors: {engine} ...', flush=True)
            rows[engine] = (run_faiss(kind, vectors, queries, exact) if family == 'faiss' else
                            run_milvus(kind, vectors, queries, exact, categories, prices))
            out['results'][str(size)] = rows
            Path(args.out).write_text(json.dumps(out, indent=1))
        print(f'\n{size:,} vectors of dim {args.dim}')
        print(f'{"engine":<14}{"insert/s":>12}{"p50 ms":>9}{"p99 ms":>9}{"filt p50":>10}{"recall@10":>11}')
        for engine, r in rows.items():
            print(f'{engine:<14}{r["insert_per_s"]:>12,.0f}{r["p50_ms"]:>9.2f}{r["p99_ms"]:>9.2f}'
                  f'{r.get("filtered_p50_ms", float("nan")):>10.2f}{r["recall_at_10"]:>11.3f}')
    return out


if __name__ == '__main__':
    main()
