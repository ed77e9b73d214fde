"""Inspect a dataset: records, modality coverage, missing/corrupt files, category long tail.

    python tools/inspect_dataset.py data/demo [--split train] [--decode] [--plot coverage.png]
    python tools/inspect_dataset.py configs/_base_/datasets/demo_5mod.py --split all
"""
from __future__ import annotations

import argparse
import logging
import sys

from m5mm.utils.cli import add_cfg_options, tool_main, tool_parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('target', help='a data folder (manifest.jsonl, meta.json or shards: index.json) or a config')
    parser.add_argument('--split', default=None,
                        help='split(s) to inspect: train, val, query,gallery or all '
                             "(default: all for a folder, the config's split for a config)")
    parser.add_argument('--decode', action='store_true',
                        help='decode every file (slow) instead of checking it exists')
    parser.add_argument('--plot', default=None, metavar='FILE.png', help='write a coverage / category plot')
    parser.add_argument('--modalities', default=None, help='comma-separated modalities (folders only)')
    parser.add_argument('--examples', type=int, default=3, help='records to print')
    parser.add_argument('--max-problems', type=int, default=20, help='broken files to list')
    add_cfg_options(parser)
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> int:
    args = parse_args(argv)
    from m5mm.datasets.inspection import dataset_for_inspection, format_report, inspect_dataset, plot_report
    logging.basicConfig(level=logging.ERROR, format='%(levelname)s %(message)s')
    modalities = args.modalities.split(',') if args.modalities else None
    dataset = dataset_for_inspection(args.target, split=args.split, decode=args.decode, modalities=modalities,
                                     cfg_options=args.cfg_options)
    report = inspect_dataset(dataset, decode=args.decode, num_examples=args.examples)
    print(format_report(report, max_problems=args.max_problems))
    if args.plot:
        print(f'plot written to {plot_report(report, args.plot)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
