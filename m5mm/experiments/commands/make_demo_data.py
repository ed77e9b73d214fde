"""Write the demo catalogue (real JPEG / mp4 / WAV files + manifest.jsonl), see docs/demo_data.md.

    python tools/make_demo_data.py --out data/demo [--num 400] [--seed 0] [--categories 12] [--probe]
"""
import json
import time

from m5mm.utils.cli import tool_main, tool_parser


@tool_main
def main(argv=None) -> None:
    parser = tool_parser(__doc__)
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--num', type=int, default=400, help='number of records (manifest lines)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (same seed, same bytes)')
    parser.add_argument('--categories', type=int, default=12,
                        help='use the K most frequent of the 12 categories')
    parser.add_argument('--probe', action='store_true',
                        help='then score hand-crafted features per modality vs combined (sklearn)')
    args = parser.parse_args(argv)
    from m5mm.experiments.catalogues.demo import make_demo_dataset
    start = time.perf_counter()
    try:
        summary = make_demo_dataset(args.out, num_products=args.num, seed=args.seed,
                                    num_categories=args.categories)
    except ValueError as exc:
        parser.exit(2, f'error: {exc}\n')
    print(json.dumps(summary, indent=1))
    print(f'wrote {summary["num_records"]} records to {args.out} in {time.perf_counter() - start:.1f} s')
    if args.probe:
        from m5mm.experiments.catalogues.demo.probe import format_probe, probe_demo_dataset
        print(format_probe(probe_demo_dataset(args.out)))


if __name__ == '__main__':
    main()
