"""Build and query a product search index over exported features.

    python tools/search_index.py build --features gallery.npz --out INDEX_DIR [--type flat|ivf|hnsw|int8|binary]
    python tools/search_index.py query INDEX_DIR --id ID [--features query.npz] [--topk 10]
    python tools/search_index.py query INDEX_DIR --vector v.npy [--topk 10]

``--id`` looks the product up in ``--features`` when given, else in the index (the product
itself is left out of its results unless ``--include-self``); ``--vector`` is a .npy of shape
(D,) or (Q, D), e.g. a new product's exported features.
"""
import argparse

from m5mm.utils.cli import add_debug_argument, tool_main, tool_parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    sub = parser.add_subparsers(dest='command', required=True)
    build = sub.add_parser('build', help='index the features of an exported .npz')
    add_debug_argument(build)
    build.add_argument('--features', required=True, help='features .npz (tools/extract_features.py output)')
    build.add_argument('--out', required=True, help='index directory to write')
    build.add_argument('--type', default='flat', choices=['flat', 'ivf', 'hnsw', 'int8', 'binary'],
                       help='exact (flat) or approximate index')
    build.add_argument('--metric', default='ip', choices=['ip', 'cosine'])
    build.add_argument('--backend', default='auto', choices=['auto', 'faiss', 'torch'])
    build.add_argument('--nlist', type=int, help='IVF lists (default ~4 sqrt(N))')
    build.add_argument('--nprobe', type=int, help='IVF lists searched per query')
    build.add_argument('--hnsw-m', type=int, help='HNSW links per node')
    build.add_argument('--ef-search', type=int, help='HNSW search beam width')
    query = sub.add_parser('query', help='rank indexed products for a product id or a feature vector')
    add_debug_argument(query)
    query.add_argument('index_dir')
    source = query.add_mutually_exclusive_group(required=True)
    source.add_argument('--id', help='a product id (in the index, or in --features)')
    source.add_argument('--vector', help='.npy feature vector(s), shape (D,) or (Q, D)')
    query.add_argument('--features', help='features .npz in which to look up --id')
    query.add_argument('--topk', type=int, default=10)
    query.add_argument('--include-self', action='store_true', help='keep the query product in its results')
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> None:
    args = parse_args(argv)
    from m5mm.evaluation.search import build_index_from_features, format_search_result, query_index
    if args.command == 'build':
        options = {key: value for key, value in (('nlist', args.nlist), ('nprobe', args.nprobe),
                                                 ('hnsw_m', args.hnsw_m), ('ef_search', args.ef_search))
                   if value is not None}
        index = build_index_from_features(args.features, args.out, index_type=args.type,
                                          metric=args.metric, backend=args.backend, **options)
        print(f'indexed {len(index)} products ({args.type}, {index.backend}) -> {args.out}')
    else:
        result = query_index(args.index_dir, pid=args.id, features_path=args.features,
                             vector_path=args.vector, topk=args.topk, include_self=args.include_self)
        print(format_search_result(result))


if __name__ == '__main__':
    main()
