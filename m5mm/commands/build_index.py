"""Embed a catalogue with a model and build the search index the service (tools/serve.py) uses.

    python tools/build_index.py MODEL --data-root CATALOGUE --out INDEX_DIR [--manifest FILE]
                                [--split gallery,query] [--type flat|ivf|hnsw|int8|binary] [--metric ip|cosine]
                                [--batch-size 64] [--num-workers 0]

MODEL: a model folder, checkpoint / work dir or hub id. CATALOGUE: a folder with manifest.jsonl (the
m5mm manifest format; media paths relative to it). INDEX_DIR (new) receives the vectors, a product
table (title, category, image path) and catalogue.json recording the catalogue and the model used.
"""
import argparse

from m5mm.utils.cli import comma_list, tool_main, tool_parser
from m5mm.utils.logging import get_logger


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('model', help='model folder, checkpoint / work dir, or hub id')
    parser.add_argument('--data-root', required=True, help='the catalogue folder')
    parser.add_argument('--out', required=True, help='index folder to write (must be new or empty)')
    parser.add_argument('--manifest', default=None, help='manifest file (default DATA_ROOT/manifest.jsonl)')
    parser.add_argument('--split', type=comma_list, default=None, help='index only these splits (default all)')
    parser.add_argument('--type', default='flat', choices=['flat', 'ivf', 'hnsw', 'int8', 'binary'])
    parser.add_argument('--metric', default='ip', choices=['ip', 'cosine'])
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-workers', type=int, default=0)
    parser.add_argument('--device', default=None)
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> str:
    args = parse_args(argv)
    get_logger()
    from m5mm.api import ProductEncoder
    from m5mm.serve import CatalogueIndex
    encoder = ProductEncoder.from_pretrained(args.model, device=args.device)
    catalogue = CatalogueIndex.build(encoder, args.data_root, args.out, manifest=args.manifest, splits=args.split,
                                     batch_size=args.batch_size, num_workers=args.num_workers,
                                     index_type=args.type, metric=args.metric)
    print(f'indexed {len(catalogue.index)} products of {catalogue.data_root} -> {args.out}')
    return args.out


if __name__ == '__main__':
    main()
