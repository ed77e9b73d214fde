"""Train a WordPiece tokenizer on a dataset's train-split titles and tables.

    python tools/build_tokenizer.py data/demo [--out data/demo/tokenizer] [--vocab-size 4000]
    python tools/build_tokenizer.py configs/_base_/datasets/demo_5mod.py
"""
from __future__ import annotations

import argparse
import sys

from m5mm.utils.cli import add_cfg_options, tool_main, tool_parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('target', help='a data folder (manifest.jsonl or meta.json) or a config file')
    parser.add_argument('--out', default=None, help="output folder (default: the config's tokenizer.path or "
                                                    'DATA_ROOT/tokenizer)')
    parser.add_argument('--vocab-size', type=int, default=None,
                        help="vocabulary size (default: the config's or 4000)")
    parser.add_argument('--no-lowercase', action='store_true', help='keep the case of the text')
    add_cfg_options(parser)
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> int:
    args = parse_args(argv)
    from m5mm.datasets.tokenizer_builder import build_dataset_tokenizer
    tokenizer, path = build_dataset_tokenizer(args.target, out=args.out, vocab_size=args.vocab_size,
                                              lowercase=not args.no_lowercase, cfg_options=args.cfg_options)
    print(f'tokenizer saved to {path}: {tokenizer.meta()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
