"""Serve product search over HTTP, with a search page at /.

    python tools/serve.py MODEL_DIR --index INDEX_DIR [--host 127.0.0.1] [--port 8000] [--device cpu|cuda]
                          [--max-upload-mb 10] [--max-k 100] [--max-text-chars N] [--max-table-pairs N]
                          [--max-table-chars N] [--max-media-mb 8] [--max-image-pixels 25000000]
                          [--max-batch 32] [--max-wait-ms 5] [--vector-db URI [--collection products]]

MODEL_DIR: a model folder (tools/export_model.py), a checkpoint / work dir, or a hub id (org/name).
INDEX_DIR: built from that model with tools/build_index.py (the service refuses an index built with another
model). Open http://HOST:PORT/ for the page; the API is POST /search, POST /embed, GET /products/{id},
GET /health (see docs/inference.md). Each field of a request has a limit (413 above it), checked before
the model runs; the text and table defaults follow the tokens the model reads (GET /health lists them).
Concurrent queries are embedded together (at most --max-batch records, waiting at most --max-wait-ms for
more; --max-batch 1 turns it off). --vector-db searches a Milvus collection written by
tools/export_vector_db.py (a milvus-lite file or http://host:19530) and enables attribute filters.
"""
import argparse

from m5mm.utils.cli import tool_main, tool_parser
from m5mm.utils.cli_choices import (CHARS_PER_TOKEN, DEFAULT_MAX_BATCH, DEFAULT_MAX_IMAGE_PIXELS,
                                    DEFAULT_MAX_MEDIA_BYTES, DEFAULT_MAX_WAIT_MS, TABLE_PAIRS_PER_TOKEN)
from m5mm.utils.logging import get_logger


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('model', help='model folder, checkpoint / work dir, or hub id')
    parser.add_argument('--index', required=True, help='index folder built by tools/build_index.py')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8000)
    parser.add_argument('--device', default=None, help='cpu, cuda, cuda:1 ... (default: cuda when available)')
    parser.add_argument('--max-upload-mb', type=float, default=10.0, help='largest request body in MB')
    parser.add_argument('--max-k', type=int, default=100, help='largest number of results per query')
    parser.add_argument('--max-text-chars', type=int, default=None,
                        help=f'longest text in characters (default: {CHARS_PER_TOKEN} per text token the model reads)')
    parser.add_argument('--max-table-pairs', type=int, default=None,
                        help=f'most table pairs (default: {TABLE_PAIRS_PER_TOKEN} per table token the model reads)')
    parser.add_argument('--max-table-chars', type=int, default=None,
                        help=f'most characters in a table\'s keys and values (default: {CHARS_PER_TOKEN} per table '
                             f'token)')
    parser.add_argument('--max-media-mb', type=float, default=DEFAULT_MAX_MEDIA_BYTES / 2 ** 20,
                        help='largest image (or other media) in MB')
    parser.add_argument('--max-image-pixels', type=int, default=DEFAULT_MAX_IMAGE_PIXELS,
                        help='most pixels (width x height) of an image')
    parser.add_argument('--max-batch', type=int, default=DEFAULT_MAX_BATCH,
                        help='most query records embedded in one forward (1: no micro-batching)')
    parser.add_argument('--max-wait-ms', type=float, default=DEFAULT_MAX_WAIT_MS,
                        help='longest wait for more concurrent queries before a forward')
    parser.add_argument('--vector-db', default=None,
                        help='search a Milvus collection (milvus-lite file or server URI) instead of the index')
    parser.add_argument('--collection', default='products', help='the collection in --vector-db')
    args = parser.parse_args(argv)
    if args.max_batch < 1 or args.max_wait_ms < 0:
        parser.error('--max-batch must be >= 1 and --max-wait-ms >= 0')
    return args


def request_limits(args: argparse.Namespace) -> dict:
    """The RequestLimits fields the flags set (None: the model's default)."""
    return dict(max_text_chars=args.max_text_chars, max_table_pairs=args.max_table_pairs,
                max_table_chars=args.max_table_chars, max_media_bytes=int(args.max_media_mb * 1024 * 1024),
                max_image_pixels=args.max_image_pixels)


@tool_main
def main(argv=None) -> None:
    args = parse_args(argv)
    get_logger()
    from m5mm.serve.server import serve
    serve(args.model, args.index, host=args.host, port=args.port, device=args.device,
          max_upload_bytes=int(args.max_upload_mb * 1024 * 1024), max_k=args.max_k, limits=request_limits(args),
          max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, vector_db=args.vector_db,
          collection=args.collection)


if __name__ == '__main__':
    main()
