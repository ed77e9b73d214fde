"""Add point clouds to an m5mm demo catalogue (``pointclouds/<id>.npy`` + the ``pointcloud`` field).

    python tools/make_demo_data.py --out data/demo          # m5mm's demo catalogue, then:
    python -m m5mm_pointcloud.make_demo data/demo [--seed 0] [--missing-rate 0.1] [--force]
    python -m m5mm_pointcloud.make_demo data/new --generate 400   # both steps at once
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from m5mm_pointcloud.demo import add_pointclouds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data_root', help='a folder with manifest.jsonl (from tools/make_demo_data.py)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (same seed, same files)')
    parser.add_argument('--missing-rate', type=float, default=0.1, help='share of records without a cloud')
    parser.add_argument('--factor-noise-rate', type=float, default=0.1,
                        help="share of clouds showing another category's primitive")
    parser.add_argument('--force', action='store_true', help='redo it even if it was done before')
    parser.add_argument('--generate', type=int, metavar='N', default=None,
                        help='first write a demo catalogue of N products if DATA_ROOT has no manifest')
    parser.add_argument('--categories', type=int, default=12, help='with --generate: number of categories')
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        if args.generate is not None and not (Path(args.data_root) / 'manifest.jsonl').is_file():
            from m5mm.experiments.catalogues.demo import make_demo_dataset
            make_demo_dataset(args.data_root, num_products=args.generate, seed=args.seed,
                              num_categories=args.categories)
        summary = add_pointclouds(args.data_root, seed=args.seed, missing_rate=args.missing_rate,
                                  factor_noise_rate=args.factor_noise_rate, force=args.force)
    except (FileNotFoundError, ValueError) as exc:
        parser.exit(2, f'error: {exc}\n')
    print(json.dumps(summary, indent=1))
    print(f'{summary["with_pointcloud"]} of {summary["num_records"]} records have a point cloud in '
          f'{args.data_root} ({time.perf_counter() - start:.1f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
