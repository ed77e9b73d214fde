"""Rerun the paper's comparison tables: pretrain and evaluate every (method, modality set, seed).

    python tools/benchmark.py --methods scale,scale_uniform,clip,single_stream,uniter,co_attention,capture \
        --modalities T,T+I,T+I+Tab,T+I+Tab+V,all --data-root data/demo --budget epochs=5 --seeds 0,1,2 \
        --out work_dirs/benchmark

Methods: configs/fusion/<method>_5mod.py (or a config path). Modality sets: T=text, I=image, Tab=table,
V=video, A=audio joined by '+', or 'all'. Every cell gets the same budget (epochs=N or steps=N; steps=0
evaluates the untrained models), seeds and data. Writes OUT/results.json, OUT/table.md and OUT/plot.png;
rerun with the same arguments to continue a stopped benchmark (finished cells are skipped, an
interrupted one resumes from its checkpoint). See docs/benchmark.md.
"""
import argparse
import os

from m5mm.utils.cli import add_cfg_options, tool_main, tool_parser
from m5mm.utils.cli_choices import BENCHMARK_METHODS, CONFIG_SIZES


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('--methods', default=','.join(BENCHMARK_METHODS), help='comma-separated methods')
    parser.add_argument('--modalities', default='all', help='comma-separated modality sets, e.g. T,T+I,all')
    parser.add_argument('--data-root', required=True, help='the catalogue (DIR/manifest.jsonl), e.g. data/demo')
    parser.add_argument('--budget', required=True, help='per cell: epochs=N or steps=N')
    parser.add_argument('--seeds', default='0', help='comma-separated seeds, e.g. 0,1,2')
    parser.add_argument('--out', required=True, help='output directory (rerun with the same one to resume)')
    parser.add_argument('--config-size', default='small', choices=sorted(CONFIG_SIZES),
                        help="'small': the configs as written (width 256); 'tiny': width 32, depth 1 (smoke tests)")
    parser.add_argument('--config-dir', default=None,
                        help="where <method>_5mod.py live (default: the checkout's configs/fusion)")
    parser.add_argument('--tables', default='methods,modalities',
                        help="table kinds: 'methods' (comparison per modality set), 'modalities' (ablation per method)")
    parser.add_argument('--num-threads', type=int, default=None,
                        help='torch CPU threads (1 is much faster than 2 on a 2-core machine that others share)')
    parser.add_argument('--diagnose', action='store_true',
                        help="store each cell's modality diagnosis (m5mm.experiments.paper_tables.diagnosis) "
                             'in its result.json')
    parser.add_argument('--keep-checkpoints', action='store_true', help="keep finished cells' checkpoints")
    parser.add_argument('--rerun-changed', action='store_true',
                        help='rerun cells stored with a different config instead of stopping with an error')
    add_cfg_options(parser)
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> dict:
    args = parse_args(argv)
    from m5mm.experiments.paper_tables import (BenchmarkSpec, Budget, parse_methods, parse_modality_sets,
                                               parse_seeds, run_benchmark)
    from m5mm.experiments.paper_tables.methods import DEFAULT_CONFIG_DIR
    try:
        spec = BenchmarkSpec(methods=parse_methods(args.methods), modality_sets=parse_modality_sets(args.modalities),
                             seeds=parse_seeds(args.seeds), budget=Budget.parse(args.budget),
                             data_root=args.data_root, out_dir=args.out, size=args.config_size,
                             config_dir=args.config_dir or str(DEFAULT_CONFIG_DIR), cfg_options=dict(args.cfg_options),
                             keep_checkpoints=args.keep_checkpoints, rerun_changed=args.rerun_changed,
                             diagnose=args.diagnose,
                             tables=[t.strip() for t in args.tables.split(',') if t.strip()])
    except ValueError as err:
        raise SystemExit(f'benchmark: {err}')
    if not any(os.path.isfile(os.path.join(args.data_root, name)) for name in ('manifest.jsonl', 'index.json')):
        raise SystemExit(f'benchmark: no manifest.jsonl (or shard index.json) in {args.data_root}; make the demo '
                         f'catalogue with '
                         f'`python tools/make_demo_data.py --out {args.data_root}` or point --data-root at yours')
    if args.num_threads:
        import torch
        torch.set_num_threads(args.num_threads)
    outcome = run_benchmark(spec, log=lambda line: print(line, flush=True))
    print(outcome['table'], flush=True)
    print(f'{len(outcome["trained"])} cells trained, {len(outcome["skipped"])} done before; '
          f'results in {args.out}/results.json, table.md, plot.png', flush=True)
    return outcome


if __name__ == '__main__':
    main()
