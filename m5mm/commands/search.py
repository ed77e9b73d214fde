"""Search a catalogue index from the command line: the top products for a text and/or an image.

    python tools/search.py MODEL --index INDEX_DIR --text "red sneakers" [--k 10]
    python tools/search.py MODEL --index INDEX_DIR --image query.jpg [--text "..."] [--k 10]

MODEL: the model folder, checkpoint / work dir or hub id the index was built with (checked).
INDEX_DIR: a folder written by tools/build_index.py. Prints one line per result, best first: rank, id,
score, category, the modalities the product has, title. --image is a path relative to the working directory.
"""
import argparse

from m5mm.utils.cli import tool_main, tool_parser
from m5mm.utils.logging import get_logger


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('model', help='model folder, checkpoint / work dir, or hub id (the index\'s model)')
    parser.add_argument('--index', required=True, help='index folder written by tools/build_index.py')
    parser.add_argument('--text', default=None, help='query text (a title or a description)')
    parser.add_argument('--image', default=None, help='query image file')
    parser.add_argument('--k', type=int, default=10, help='number of results (default 10)')
    parser.add_argument('--device', default=None)
    args = parser.parse_args(argv)
    if args.text is None and args.image is None:
        parser.error('give --text and/or --image')
    if args.k < 1:
        parser.error('--k must be at least 1')
    return args


@tool_main
def main(argv=None) -> list:
    args = parse_args(argv)
    get_logger()
    from m5mm.api import ProductEncoder
    from m5mm.api.search import search
    from m5mm.serve import CatalogueIndex
    from m5mm.serve.ranked_products import format_ranked_products, ranked_products
    catalogue = CatalogueIndex.load(args.index)
    encoder = ProductEncoder.from_pretrained(args.model, device=args.device)
    catalogue.check_model(encoder)
    result = search(encoder, catalogue.index, text=args.text, image=args.image, k=min(args.k, len(catalogue.index)))
    rows = ranked_products(catalogue, result.ids[0], result.scores[0])
    print(format_ranked_products(rows))
    return rows


if __name__ == '__main__':
    main()
