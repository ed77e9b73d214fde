"""Exact top-k search throughput: m5mm's chunked torch search vs FAISS, plus approximate indexes.

    python benchmarks/search_throughput.py                       # 1M x 256 gallery, 1000 queries
    python benchmarks/search_throughput.py --gallery-size 200000 --approx ivf,hnsw --out bench.json

The gallery is synthetic, clustered (``--clusters`` Gaussian centres plus ``--noise``) and
L2-normalised; queries are new draws from the same mixture (new products). Every method ranks
by inner product in fp32. Reported per method: build time, search wall time (the best of
``--repeats`` runs, so that other load on the machine disturbs it less) and the process CPU
time of that run (all threads; less sensitive to other load, but OpenMP spin-waiting counts),
queries per second, and recall@k of its top-k against m5mm's exact result (1.0 for an exact
method, barring ties).
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from m5mm.evaluation.search import FaissIndex  # noqa: E402
from m5mm.evaluation.topk import DEFAULT_GALLERY_CHUNK, DEFAULT_QUERY_CHUNK, exact_topk  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add('--gallery-size', type=int, default=1_000_000)
    add('--dim', type=int, default=256)
    add('--queries', type=int, default=1000)
    add('--topk', type=int, default=10)
    add('--clusters', type=int, default=1000, help='Gaussian centres of the synthetic data')
    add('--noise', type=float, default=2.0, help='noise std around the centres (centres ~ N(0, 1))')
    add('--threads', type=int, default=torch.get_num_threads())
    add('--repeats', type=int, default=3, help='search runs per method; the fastest is reported')
    add('--query-chunk', type=int, default=DEFAULT_QUERY_CHUNK, help='m5mm exact search: queries per block')
    add('--gallery-chunk', type=int, default=DEFAULT_GALLERY_CHUNK,
        help='m5mm exact search: gallery items per block')
    add('--approx', default='ivf', help="comma-separated approximate indexes: ivf, hnsw ('' = none)")
    add('--nprobe', type=int, default=32)
    add('--ef-search', type=int, default=64)
    add('--no-faiss', action='store_true', help='only time the m5mm exact search')
    add('--seed', type=int, default=0)
    add('--out', help='write the results as JSON here')
    return parser.parse_args(argv)


def make_data(n: int, dim: int, n_queries: int, clusters: int, noise: float, seed: int):
    """Clustered, L2-normalised (n, dim) gallery and (n_queries, dim) new queries, float32."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, dim), dtype=np.float32)

    def draw(count: int) -> np.ndarray:
        x = centers[rng.integers(0, clusters, count)]
        x += noise * rng.standard_normal(x.shape, dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    gallery = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 65536):
        gallery[start:start + 65536] = draw(min(65536, n - start))
    return gallery, draw(n_queries)


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each query's exact top-k found by the method."""
    return float(np.mean([len(set(f[f >= 0]) & set(e)) / len(e) for f, e in zip(found, exact)]))


def best_time(search, repeats: int):
    """Fastest of ``repeats`` calls of ``search()`` -> ((wall s, process CPU s), its result)."""
    best, result = (float('inf'), float('inf')), None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = search()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best, result


def time_m5mm(gallery, queries, args, deterministic: bool):
    g, q = torch.from_numpy(gallery), torch.from_numpy(queries)
    seconds, (_, idx) = best_time(lambda: exact_topk(q, g, args.topk, query_chunk=args.query_chunk,
                                                     gallery_chunk=args.gallery_chunk,
                                                     deterministic=deterministic), args.repeats)
    return 0.0, *seconds, idx.numpy()


def time_faiss(gallery, queries, args, index_type: str, **options):
    start = time.perf_counter()
    index = FaissIndex(dim=gallery.shape[1], index_type=index_type, seed=args.seed, **options)
    index.add(gallery)
    build = time.perf_counter() - start
    seconds, (_, idx) = best_time(lambda: index.search(queries, args.topk), args.repeats)
    return build, *seconds, idx


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    gallery, queries = make_data(args.gallery_size, args.dim, args.queries, args.clusters, args.noise,
                                 args.seed)
    elapsed = time.perf_counter() - t0
    print(f'data: gallery {gallery.shape}, queries {queries.shape} in {elapsed:.1f}s', flush=True)
    rows = []

    def record(name, exact, build, search, cpu, idx, reference):
        rows.append(dict(method=name, exact=exact, build_s=round(build, 3), search_s=round(search, 3),
                         cpu_s=round(cpu, 3), qps=round(len(queries) / search, 1),
                         recall=round(recall_at_k(idx, reference), 4)))
        print(rows[-1], flush=True)

    *times, reference = time_m5mm(gallery, queries, args, deterministic=True)
    record('m5mm exact (torch, stable ties)', True, *times, reference, reference)
    record('m5mm exact (torch, no tie check)', True, *time_m5mm(gallery, queries, args, deterministic=False),
           reference)
    env = dict(torch=torch.__version__, numpy=np.__version__, python=platform.python_version(),
               cpu=platform.processor() or platform.machine(), threads=args.threads, cores=os.cpu_count())
    if not args.no_faiss:
        import faiss
        faiss.omp_set_num_threads(args.threads)
        env['faiss'] = faiss.__version__
        record('faiss IndexFlatIP', True, *time_faiss(gallery, queries, args, 'flat'), reference)
        for kind in [k for k in args.approx.split(',') if k]:
            options = dict(nprobe=args.nprobe) if kind == 'ivf' else dict(ef_search=args.ef_search)
            label = (f'faiss IVFFlat nprobe={args.nprobe}' if kind == 'ivf'
                     else f'faiss HNSWFlat efSearch={args.ef_search}')
            record(label, False, *time_faiss(gallery, queries, args, kind, **options), reference)
    return dict(config=vars(args), environment=env, results=rows)


def format_table(report: dict) -> str:
    """The results as an aligned text table."""
    cfg = report['config']
    head = (f"gallery {cfg['gallery_size']} x {cfg['dim']} float32, {cfg['queries']} queries, "
            f"top-{cfg['topk']}, {report['environment']['threads']} threads")
    lines = [head, f"{'method':<40} {'build s':>9} {'search s':>9} {'CPU s':>9} {'QPS':>9} {'recall@k':>9}"]
    for r in report['results']:
        lines.append(f"{r['method']:<40} {r['build_s']:>9.2f} {r['search_s']:>9.2f} {r['cpu_s']:>9.2f} "
                     f"{r['qps']:>9.1f} {r['recall']:>9.4f}")
    return '\n'.join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    report = run(args)
    print(format_table(report))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
        print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
