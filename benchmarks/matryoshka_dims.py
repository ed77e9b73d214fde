"""Retrieval against vector size: coarse / fine mAP@1 with the joint vectors cut to 32/64/128/256 dimensions,
for runs trained with and without the Matryoshka objective, and the bytes a product costs.

    python benchmarks/matryoshka_dims.py NAME=WORK_DIR [NAME=WORK_DIR ...] [--dims 32,64,128,256]
                                         [--out benchmarks/results/matryoshka_dims.json]

Each work dir's latest checkpoint is evaluated on its config's query and gallery splits (features extracted
once; each cut keeps the first d coordinates and renormalises them).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('runs', nargs='+', help='NAME=WORK_DIR')
    parser.add_argument('--dims', default='32,64,128,256')
    parser.add_argument('--out', default=None)
    return parser.parse_args(argv)


def evaluate_run(work_dir: str, dims) -> list:
    from m5mm.api.run_loader import load_run
    from m5mm.evaluation.evaluate import extract_splits
    from m5mm.evaluation.prefix_retrieval import prefix_retrieval
    run = load_run(work_dir)
    features = extract_splits(run.model, run.cfg, ['query', 'gallery'])
    return prefix_retrieval(features, dims=dims)


def format_table(report: dict) -> str:
    names = list(report['runs'])
    columns = ' | '.join(f'{n} coarse mAP@1 | {n} fine mAP@1' for n in names)
    header = f'| dims | bytes float32 / int8 / binary | {columns}'
    lines = [header + ' |', '|' + '---|' * (2 + 2 * len(names))]
    for i, row in enumerate(report['runs'][names[0]]):
        cells = [f'{100 * report["runs"][n][i]["retrieval_coarse"]["mAP@1"]:.1f} | '
                 f'{100 * report["runs"][n][i]["retrieval_fine"]["mAP@1"]:.1f}' for n in names]
        lines.append(f'| {row["dim"]} | {row["bytes_float32"]} / {row["bytes_int8"]} / {row["bytes_binary"]} | '
                     + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from m5mm.utils.logging import get_logger
    get_logger()
    dims = [int(d) for d in args.dims.split(',')]
    runs = dict(item.split('=', 1) for item in args.runs)
    report = dict(dims=dims, work_dirs=runs, runs={name: evaluate_run(path, dims) for name, path in runs.items()})
    print(format_table(report))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    main()
