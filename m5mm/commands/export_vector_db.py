"""Copy a catalogue index into a Milvus collection (embedded milvus-lite file, or a Milvus server).

    python tools/export_vector_db.py INDEX_DIR --uri work_dirs/catalogue.db [--collection products]
                                     [--model MODEL --modality-vectors text,image] [--payload-fields price]
                                     [--index-type FLAT|HNSW] [--overwrite]

INDEX_DIR: built by tools/build_index.py. --uri: a file path runs Milvus embedded (milvus-lite); a URL
(http://host:19530) writes to a Milvus server or cluster with the same API. Each product gets its joint
vector, title, category, modalities and attributes (its table's pairs, numbers where the value is one,
and the --payload-fields of its manifest line). --modality-vectors also stores each modality's own
vector (needs --model: the model the index was built with). Serve it with
tools/serve.py MODEL --index INDEX_DIR --vector-db URI (attribute filters need it).
"""
import argparse
import os

from m5mm.utils.cli import comma_list, tool_main, tool_parser
from m5mm.utils.logging import get_logger


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('index', help='catalogue index folder (tools/build_index.py)')
    parser.add_argument('--uri', required=True, help='milvus-lite file (e.g. work_dirs/catalogue.db) or server URL')
    parser.add_argument('--collection', default='products')
    parser.add_argument('--model', default=None, help='the index\'s model (needed for --modality-vectors)')
    parser.add_argument('--modality-vectors', type=comma_list, default=[],
                        help='modalities to store as named vectors, e.g. text,image')
    parser.add_argument('--payload-fields', type=comma_list, default=[],
                        help='top-level manifest fields stored as attributes, e.g. price')
    parser.add_argument('--index-type', default='FLAT', choices=['FLAT', 'HNSW'])
    parser.add_argument('--overwrite', action='store_true', help='replace an existing collection of that name')
    parser.add_argument('--device', default=None)
    args = parser.parse_args(argv)
    if args.modality_vectors and args.model is None:
        parser.error('--modality-vectors needs --model')
    return args


@tool_main
def main(argv=None) -> str:
    args = parse_args(argv)
    get_logger()
    from m5mm.serve import CatalogueIndex
    from m5mm.serve.vector_db_export import export_catalogue
    encoder = None
    if args.model is not None:
        from m5mm.api import ProductEncoder
        encoder = ProductEncoder.from_pretrained(args.model, device=args.device)
    if os.sep in args.uri and '://' not in args.uri:
        os.makedirs(os.path.dirname(os.path.abspath(args.uri)), exist_ok=True)
    database = export_catalogue(CatalogueIndex.load(args.index), args.uri, collection=args.collection,
                                encoder=encoder, modalities=args.modality_vectors, payload_fields=args.payload_fields,
                                index_type=args.index_type, overwrite=args.overwrite)
    print(f'wrote {len(database)} products to {args.uri} collection {args.collection!r} '
          f'(attributes: {", ".join(database.attributes) or "none"})')
    return args.uri


if __name__ == '__main__':
    main()
