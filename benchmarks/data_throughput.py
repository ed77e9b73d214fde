"""Data loading throughput: the manifest reader on raw media vs shards (raw / preprocessed), and
shard build speed.

    python benchmarks/data_throughput.py                 # demo data, the small config's pipelines
    python benchmarks/data_throughput.py --workers 0 1 2 --batches 20

For each source and number of DataLoader workers, batches of the small config's training
pipelines (64x64 images, 4 video frames, 4 s of audio) are read in training order; the first
batch (worker start-up) is not timed. Shown beside them: the samples/s that the small and the
paper-size training steps consume on this machine (``benchmarks/results/train_throughput.json``)
and samples/s per loading core (the main process with 0 workers, else the workers). Shard build
speed is measured with 1 and 2 build workers. Prints tables, writes JSON.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CONFIG = 'configs/scale_5mod_small.py'


def build_speed(data_root: str, out_root: str, workers: int, preprocess: str) -> dict:
    """Products/s of ``tools/make_shards.py`` on ``data_root`` (a fresh build)."""
    from m5mm.datasets.shards.command import make_shards
    out = Path(out_root) / f'build_{preprocess}_{workers}'
    shutil.rmtree(out, ignore_errors=True)
    tic = time.perf_counter()
    result = make_shards(str(REPO / CONFIG), out=str(out), shard_size=50, preprocess=preprocess, workers=workers,
                         cfg_options=dict(data_root=data_root), log=lambda line: None)
    seconds = time.perf_counter() - tic
    return dict(preprocess=preprocess, workers=workers, products=result['samples'], seconds=seconds,
                products_per_s=result['samples'] / seconds, path=str(out))


def loader_speed(data_root: str, workers: int, batches: int, batch_size: int) -> dict:
    """Samples/s of the training loader of the small config on ``data_root`` (any kind of source)."""
    from m5mm.datasets.loaders import build_dataloader
    from m5mm.utils.config import load_config
    cfg = load_config(str(REPO / CONFIG), {'data_root': data_root, 'train_dataloader.num_workers': workers,
                                           'train_dataloader.batch_size': batch_size})
    loader = build_dataloader(cfg.train_dataloader, seed=0, shuffle=True, drop_last=True)
    iterator = iter(loader)
    next(iterator)  # worker start-up and the first decode are not timed
    tic, samples, count = time.perf_counter(), 0, 0
    for batch in iterator:
        samples += len(batch['meta']['ids'])
        count += 1
        if count == batches:
            break
    seconds = time.perf_counter() - tic
    cores = max(1, workers)
    return dict(workers=workers, batches=count, samples=samples, seconds=seconds,
                samples_per_s=samples / seconds, samples_per_s_per_core=samples / seconds / cores,
                dataset=type(loader.dataset).__name__)


def training_consumption() -> dict:
    """Samples/s the small and paper-size training steps consume (bf16) on this machine."""
    path = REPO / 'benchmarks' / 'results' / 'train_throughput.json'
    if not path.is_file():
        return {}
    rows = json.loads(path.read_text())['rows']
    return {Path(r['config']).stem: r['samples_per_s'] for r in rows if r['precision'] == 'bf16'}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', default='data/demo', help='demo catalogue (generated if absent)')
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--batches', type=int, default=15, help='timed batches per measurement')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--out', default='benchmarks/results/data_throughput.json')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    from m5mm.experiments.catalogues.demo import make_demo_dataset
    if not (Path(args.data_root) / 'manifest.jsonl').is_file():
        make_demo_dataset(args.data_root)
    scratch = tempfile.mkdtemp(prefix='m5mm_data_bench_')
    try:
        builds = [build_speed(args.data_root, scratch, w, p) for p in ('none', 'all') for w in (1, 2)]
        sources = {'manifest + raw media': args.data_root,
                   'shards, raw media': next(b['path'] for b in builds if b['preprocess'] == 'none'),
                   'shards, preprocessed': next(b['path'] for b in builds if b['preprocess'] == 'all')}
        rows = [dict(source=name, **loader_speed(path, w, args.batches, args.batch_size))
                for name, path in sources.items() for w in args.workers]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    consumption = training_consumption()
    print(f'{"source":<24} {"workers":>7} {"samples/s":>10} {"per core":>9}')
    for row in rows:
        print(f'{row["source"]:<24} {row["workers"]:>7} {row["samples_per_s"]:>10.1f} '
              f'{row["samples_per_s_per_core"]:>9.1f}')
    print('training steps consume (bf16): ' + ', '.join(f'{k} {v:.1f} samples/s' for k, v in consumption.items()))
    print(f'\n{"shard build":<24} {"workers":>7} {"products/s":>10}')
    for build in builds:
        print(f'{"preprocess " + build["preprocess"]:<24} {build["workers"]:>7} {build["products_per_s"]:>10.1f}')
    for build in builds:
        build.pop('path')
    result = dict(config=CONFIG, batch_size=args.batch_size, loaders=rows, builds=builds,
                  training_consumes=consumption, note='measured on a 2-core machine shared with other jobs')
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f'wrote {args.out}')
    return result


if __name__ == '__main__':
    main()
