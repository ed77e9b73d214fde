"""Write a synthetic catalogue of the CATALOGUES registry (demo, bazaar, emoji; see docs/demo_data.md and
docs/emoji_data.md).

    python tools/make_catalogue.py emoji --out data/emoji --num 1000 --seed 0
    python tools/make_catalogue.py bazaar --out data/bazaar --num 600
    python tools/make_catalogue.py emoji --out data/emoji --options num_categories=12 wrong_media_rate=0.05
"""
import json
import time

from m5mm.utils.cfg_options import CfgOptionsAction
from m5mm.utils.cli import tool_main, tool_parser


@tool_main
def main(argv=None) -> None:
    parser = tool_parser(__doc__)
    parser.add_argument('type', help='catalogue name in the CATALOGUES registry: demo, bazaar, emoji')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--num', type=int, default=None, help="number of records (default: the generator's)")
    parser.add_argument('--seed', type=int, default=0, help='random seed (same seed, same bytes)')
    parser.add_argument('--options', nargs='+', action=CfgOptionsAction, default={},
                        help="more arguments of the generator, e.g. num_categories=6 (see its docs)")
    args = parser.parse_args(argv)
    from m5mm.registry import CATALOGUES
    cfg = dict(args.options, type=args.type, out_dir=args.out, seed=args.seed)
    if args.num is not None:
        cfg['num_products'] = args.num
    start = time.perf_counter()
    try:
        summary = CATALOGUES.build(cfg)
    except (KeyError, TypeError, ValueError, FileNotFoundError) as exc:
        parser.exit(2, f'error: {exc}\n')
    print(json.dumps(summary, indent=1, ensure_ascii=False))
    print(f'wrote {summary["num_records"]} records to {args.out} in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
