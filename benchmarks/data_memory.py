"""Memory of the data readers against the catalogue size: main process and DataLoader workers.

    python benchmarks/data_memory.py                       # 10k, 100k and 1M synthetic manifest lines
    python benchmarks/data_memory.py --sizes 10000 100000

Each measurement runs in a fresh process over a synthetic manifest (titles, tables, category,
instance, split and image paths pointing to a few real files):

* ``dicts (before)``: what the readers held before the compact index: every record normalised
  into a Python dict and kept in a list (the pre-change ``BaseProductDataset._load_records``);
  its workers read the dicts of random records.
* ``ManifestDataset``: the reader now (columnar index, records parsed again when loaded).
* ``ShardedDataset``: the shard reader over shards of the same manifest (sizes up to ``--shard-max``).

Reported: RSS after building (MB) and its increase per record over the same process after it
built the reader once on a 200-record manifest (imports, registries, tokenizer), the index's own
bytes per record, peak RSS, and the private memory (USS) two DataLoader
workers add while reading 2 000 random samples (titles and tables tokenised, images decoded;
copy-on-write: a per-record Python object that a worker touches becomes private to that worker).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TEXT_TABLE = dict(text=None, table=None, image=None)
WORDS = ['red', 'cotton', 'shirt', 'steel', 'bottle', 'wireless', 'earbuds', 'leather', 'wallet', 'mug']


def rss_mb(pid: str = 'self') -> float:
    with open(f'/proc/{pid}/status') as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith('VmRSS')) / 1024


def uss_mb(pid: int) -> float:
    """Private (unshared) memory of ``pid``."""
    with open(f'/proc/{pid}/smaps_rollup') as handle:
        private = (int(line.split()[1]) for line in handle if line.startswith(('Private_Clean', 'Private_Dirty')))
        return sum(private) / 1024


def write_manifest(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    words = WORDS
    with open(root / 'manifest.jsonl', 'w') as handle:
        for i in range(n):
            record = dict(id=f'P{i:08d}', text=' '.join(rng.choices(words, k=6)),
                          table=[['brand', f'b{i % 97}'], ['color', rng.choice(words)]],
                          image=f'images/{i % 4}.jpg', category=f'cat{i % 300}', instance=f'sku-{i // 5}',
                          split=rng.choice(['train'] * 8 + ['val', 'gallery']))
            handle.write(json.dumps(record) + '\n')


class DictRecords:
    """The pre-change memory layout: one normalised dict per record in a list."""

    def __init__(self, root: str) -> None:
        from m5mm.datasets.records import normalize_record
        from m5mm.registry import MODALITIES
        specs = {name: MODALITIES.build(dict(type=name)) for name in TEXT_TABLE}
        with open(os.path.join(root, 'manifest.jsonl'), 'rb') as handle:
            self.records = [normalize_record(json.loads(line), specs) for line in handle]
        self.categories = {r['category'] for r in self.records}
        self.instances = {name: i for i, name in enumerate(sorted({r['instance'] for r in self.records}))}

    def __len__(self):
        return len(self.records)

    def __getitem__(self, index):
        record = self.records[index]
        return record['id'], record['fields']['text'], record['category']


def build(kind: str, root: str):
    if kind == 'dicts (before)':
        return DictRecords(root)
    if kind == 'ManifestDataset':
        from m5mm.datasets import ManifestDataset
        return ManifestDataset(data_root=root, split=None, modalities=TEXT_TABLE,
                               tokenizer=dict(path=os.path.join(root, 'tokenizer')))
    from m5mm.datasets import ShardedDataset
    return ShardedDataset(data_root=root, split=None, modalities=dict(text=None, table=None))


def worker_private_mb(dataset, reads: int = 2000) -> float:
    """USS added by each of 2 DataLoader workers after reading ``reads`` random records."""
    import torch
    from torch.utils.data import DataLoader, IterableDataset, Subset
    if isinstance(dataset, IterableDataset):
        dataset.configure_stream(batch_size=50, num_workers=2)
        source = dataset
    else:
        rng = random.Random(1)
        source = Subset(dataset, [rng.randrange(len(dataset)) for _ in range(reads)])
    loader = DataLoader(source, batch_size=50, num_workers=2, collate_fn=lambda items: len(items),
                        persistent_workers=True)
    iterator = iter(loader)
    baseline = None
    for i, _ in enumerate(iterator):
        if i == 0:
            baseline = [uss_mb(w.pid) for w in iterator._workers]
        if i * 50 >= reads:
            break
    after = [uss_mb(w.pid) for w in iterator._workers]
    del iterator, loader
    torch.set_num_threads(1)
    return max(a - b for a, b in zip(after, baseline))


def measure(kind: str, root: str, n: int, warm_root: str) -> dict:
    import gc
    warm = build(kind, warm_root)   # imports, registries, tokenizer: what does not grow with the records
    del warm
    gc.collect()
    base = rss_mb()
    tic = time.perf_counter()
    dataset = build(kind, root)
    seconds = time.perf_counter() - tic
    after = rss_mb()
    index_bytes = None
    if hasattr(dataset, 'index') and hasattr(dataset.index, 'nbytes'):
        index_bytes = (dataset.index.nbytes + dataset._rows.nbytes) / n
    return dict(kind=kind, records=n, build_s=seconds, rss_mb=after, added_mb=after - base,
                bytes_per_record=(after - base) * 2 ** 20 / n, index_bytes_per_record=index_bytes,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                worker_private_mb=worker_private_mb(dataset))


def prepare(root: Path, n: int, shards: bool) -> None:
    """The manifest, 4 real JPEGs, a tokenizer and (optionally) title/table shards of it."""
    import numpy as np
    from PIL import Image

    from m5mm.datasets.tokenizer import train_tokenizer
    write_manifest(root, n)
    (root / 'images').mkdir(exist_ok=True)
    for i in range(4):
        Image.fromarray(np.full((48, 48, 3), 60 * i, np.uint8)).save(root / 'images' / f'{i}.jpg')
    train_tokenizer(WORDS + ['brand', 'color'], out_dir=str(root / 'tokenizer'), vocab_size=100)
    if shards:
        from m5mm.datasets.shards import build_shards
        build_shards(dict(type='ManifestDataset', data_root=str(root), modalities=dict(text=None, table=None)),
                     out=str(root / 'shards'), shard_size=1000, workers=2, log=lambda line: None)


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', type=int, nargs='+', default=[10_000, 100_000, 1_000_000])
    parser.add_argument('--shard-max', type=int, default=100_000, help='largest size also built as shards')
    parser.add_argument('--out', default='benchmarks/results/data_memory.json')
    parser.add_argument('--worker', nargs=4, metavar=('KIND', 'ROOT', 'N', 'WARM'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker[0], args.worker[1], int(args.worker[2]), args.worker[3])))
        return []
    scratch = Path(tempfile.mkdtemp(prefix='m5mm_mem_bench_'))
    rows = []
    try:
        prepare(scratch / 'warm', 200, True)
        for n in args.sizes:
            root = scratch / str(n)
            prepare(root, n, n <= args.shard_max)
            kinds = [('dicts (before)', root, scratch / 'warm'), ('ManifestDataset', root, scratch / 'warm')]
            if n <= args.shard_max:
                kinds.append(('ShardedDataset', root / 'shards', scratch / 'warm' / 'shards'))
            for kind, path, warm in kinds:
                cmd = [sys.executable, __file__, '--worker', kind, str(path), str(n), str(warm)]
                out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
                if out.returncode != 0:
                    raise SystemExit(f'{kind} {n} failed:\n{out.stderr[-3000:]}')
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                r = rows[-1]
                print(f'{r["kind"]:<16} {n:>9} records: +{r["added_mb"]:8.1f} MB '
                      f'({r["bytes_per_record"]:7.1f} B/record, '
                      f'index {r["index_bytes_per_record"] or 0:5.1f} B/record), peak {r["peak_rss_mb"]:7.1f} MB, '
                      f'worker +{r["worker_private_mb"]:6.1f} MB private, built in {r["build_s"]:.1f} s', flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(dict(rows=rows, note='measured on a 2-core machine shared with other jobs'),
                                         indent=2))
    print(f'wrote {args.out}')
    return rows


if __name__ == '__main__':
    main()
