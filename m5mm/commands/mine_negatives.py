"""Mine hard negatives for training: for each product, the nearest products of other groups.

    python tools/mine_negatives.py MODEL --data-root CATALOGUE --out negatives.jsonl [--k 10]
                                   [--exclude instance|category] [--split train] [--batch-size 64]

MODEL: a model folder, checkpoint / work dir or hub id. The products of the split are embedded
with the model and searched in the exact search index; other listings of the same product
(``--exclude instance``, or the whole category) are never negatives. Use the file with the
dataset option ``hard_negatives=dict(file='negatives.jsonl', per_sample=1)`` (docs/training.md).
"""
import argparse

from m5mm.utils.cli import comma_list, tool_main, tool_parser
from m5mm.utils.logging import get_logger


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('model', help='model folder, checkpoint / work dir, or hub id')
    parser.add_argument('--data-root', required=True, help='the catalogue folder (manifest.jsonl)')
    parser.add_argument('--out', required=True, help='negatives file to write (.jsonl)')
    parser.add_argument('--k', type=int, default=10, help='negatives per product (default 10)')
    parser.add_argument('--exclude', default='instance', choices=['instance', 'category'],
                        help='never take products of the same instance (default) or category')
    parser.add_argument('--manifest', default=None,
                        help='manifest file (default DATA_ROOT/manifest.jsonl; for a model trained on cached tower '
                             'features, the manifest its run read, e.g. features/manifest.jsonl)')
    parser.add_argument('--split', type=comma_list, default=['train'], help='splits to mine (default train)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-workers', type=int, default=0)
    parser.add_argument('--device', default=None)
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> str:
    args = parse_args(argv)
    get_logger()
    from m5mm.api import ProductEncoder
    from m5mm.evaluation.negative_mining import mine_negatives
    encoder = ProductEncoder.from_pretrained(args.model, device=args.device)
    stats = mine_negatives(encoder, args.data_root, args.out, k=args.k, exclude=args.exclude, split=args.split,
                           manifest=args.manifest, batch_size=args.batch_size, num_workers=args.num_workers)
    print(f'mined {stats["negatives"]} negatives for {stats["products"]} products -> {args.out}')
    return args.out


if __name__ == '__main__':
    main()
