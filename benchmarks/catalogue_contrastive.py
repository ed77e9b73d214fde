"""Issue 24: catalogue-aware contrastive learning, SCALE on all five modalities, seeds x variants.

    python benchmarks/catalogue_contrastive.py --data-root data/demo --epochs 2 --seeds 0,1,2 \
        --out work_dirs/i24_demo --json benchmarks/results/issue24_demo.json

Variants (every other setting identical; tiny size, batch 8, AdamW lr 1e-3, retrieval only):

* ``today``: the all-pairs InfoNCE with the diagonal as the only positive;
* ``multi_positive``: ``group_by='instance'`` (other listings of the product are positives);
* ``mp_per_group2``: + ``batch_sampler=dict(type='per_group', k=2)``;
* ``mp_pg2_hard_negatives``: + ``hard_negatives=dict(file=..., per_sample=1)``, the file mined
  (``m5mm.evaluation.negative_mining.mine_negatives``, k=10) with the same seed's ``mp_per_group2``
  model;
* ``sigmoid_pg2``: the ``mp_per_group2`` setting with :class:`SigmoidContrastiveObjective` instead;
* ``today_b16``, ``mp_pg2_b16``, ``sigmoid_pg2_b16``: those three at batch 16;
* ``sigmoid_pg2_prior_bias`` (not run by default): ``sigmoid_pg2`` with the bias initialised at ``-ln B``
  (B the train batch) instead of SigLIP's -10, which is ``-ln`` of SigLIP's 32k batch (the prior log-odds of a
  positive pair).
* the sigmoid diagnosis (not run by default; docs/benchmark.md, "Catalogue-aware contrastive on the (D)
  config"): ``sigmoid_pg2_pairs`` (``normalization='pairs'``: the mean over the valid pairs instead of
  SigLIP's sum over pairs / samples), ``sigmoid_pg2_pairs_prior`` (+ bias ``-ln B``),
  ``sigmoid_pg2_loss_weights`` / ``sigmoid_pg2_pairs_loss_weights`` (``weight_mode='loss'``) and
  ``sigmoid_pg2_pairs_t14`` (+ t initialised at InfoNCE's 1 / 0.07).

Cells run seed-major (every variant of seed 0 first), or the ``--cells variant:seed,...`` given;
finished cells (``OUT/<variant>/cells/*/result.json``) are reused, so several invocations can share
one ``--out``. The JSON (every finished cell under ``--out``, the summary, same-seed differences
under ``paired`` and the catalogue's in-batch positives under ``catalogue``) is rewritten after each cell.

Real towers (``--config``: a config file instead of the tiny from-scratch SCALE, used as written: its
towers, widths, batch and objectives; the variants change its ``con`` objective's ``type`` / ``group_by``
only, so e.g. the packaged config's ``mean_one_weights`` stays)::

    python benchmarks/catalogue_contrastive.py --config configs/scale_5mod_packaged_cached.py \
        --pretrained-root data/pretrained --data-root data/demo --epochs 4 \
        --extra-options '{"train_dataloader.batch_size": 16}' \
        --variants today,multi_positive,mp_per_group2,sigmoid_pg2,mp_pg2_hard_negatives \
        --out work_dirs/i24_real_demo --json benchmarks/results/issue24_real_towers_demo.json

Other modes::

    --curve                      one run per cell, the retrieval evaluated after every epoch
    --budget steps=0             the untrained model (any paper_tables budget instead of --epochs)
    --single-listing-of SRC      first write --data-root as SRC with one train listing per instance
                                 (the no-duplicates control)
    --plot PNG --json A,B,...    only draw those results files and print their markdown tables
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODALITIES = ('image', 'text', 'table', 'video', 'audio')
VARIANTS = ('today', 'multi_positive', 'mp_per_group2', 'mp_pg2_hard_negatives', 'sigmoid_pg2', 'today_b16',
            'mp_pg2_b16', 'sigmoid_pg2_b16', 'sigmoid_pg2_prior_bias', 'sigmoid_pg2_pairs', 'sigmoid_pg2_pairs_prior',
            'sigmoid_pg2_loss_weights', 'sigmoid_pg2_pairs_loss_weights', 'sigmoid_pg2_pairs_t14')
DEFAULT_VARIANTS = VARIANTS[:8]
DESCRIPTIONS = {
    'today': 'InterModalityContrastiveObjective (diagonal positives), plain shuffle',
    'multi_positive': "InterModalityContrastiveObjective(group_by='instance'), plain shuffle",
    'mp_per_group2': "group_by='instance' + batch_sampler=dict(type='per_group', k=2)",
    'mp_pg2_hard_negatives': "mp_per_group2 + hard_negatives=dict(per_sample=1), mined k=10 by that seed's "
                             "mp_per_group2 model",
    'sigmoid_pg2': "SigmoidContrastiveObjective(group_by='instance') + batch_sampler per_group k=2",
    'today_b16': 'today at batch 16',
    'mp_pg2_b16': 'mp_per_group2 at batch 16',
    'sigmoid_pg2_b16': 'sigmoid_pg2 at batch 16',
    'sigmoid_pg2_prior_bias': 'sigmoid_pg2 with the bias initialised at -ln(train batch) instead of -10',
    'sigmoid_pg2_pairs': "sigmoid_pg2 with normalization='pairs' (the mean over the valid pairs)",
    'sigmoid_pg2_pairs_prior': "sigmoid_pg2_pairs with the bias initialised at -ln(train batch)",
    'sigmoid_pg2_loss_weights': "sigmoid_pg2 with weight_mode='loss' (harmonizer weights on the row losses)",
    'sigmoid_pg2_pairs_loss_weights': "sigmoid_pg2_pairs with weight_mode='loss'",
    'sigmoid_pg2_pairs_t14': "sigmoid_pg2_pairs with t initialised at 1 / 0.07 (InfoNCE's fixed temperature)",
}
METRICS = (('retrieval_fine', 'mAP@1'), ('retrieval_fine', 'mAP@10'), ('retrieval_coarse', 'mAP@1'))


def objectives(con: dict, base: dict = None) -> dict:
    """``base`` (a config's objectives; None: SCALE's default objectives for the five modalities) with
    ``con`` replaced (merged into ``base``'s ``con``: its other settings kept)."""
    from m5mm.models.objectives import default_objectives
    if base is None:
        cfgs = default_objectives(list(MODALITIES), {'table': 'text'})
        cfgs['con'] = con
        return cfgs
    return {**base, 'con': {**base.get('con', {}), **con}}


def config_objectives(config: str = None) -> dict:
    """The ``model.objectives`` written in ``config`` (None without a config or when it derives them)."""
    if not config:
        return None
    from m5mm.utils.config import load_config
    found = load_config(config).model.get('objectives')
    return found.to_dict() if found is not None else None


def variant_options(variant: str, negatives: str = '', base: dict = None, batch_size: int = 8) -> dict:
    """The ``--cfg-options`` of a variant (``base``: the config's objectives, see :func:`objectives`;
    ``batch_size``: the train batch, for ``sigmoid_pg2_prior_bias``)."""
    options = {}
    if variant not in ('today', 'today_b16'):
        con = dict(type='SigmoidContrastiveObjective' if variant.startswith('sigmoid') else
                   'InterModalityContrastiveObjective', group_by='instance')
        if variant in ('sigmoid_pg2_prior_bias', 'sigmoid_pg2_pairs_prior'):
            con['bias'] = round(-math.log(batch_size), 4)
        if variant.startswith('sigmoid_pg2_pairs'):
            con['normalization'] = 'pairs'
        if variant.endswith('_loss_weights'):
            con['weight_mode'] = 'loss'
        if variant.endswith('_t14'):
            con['temperature'] = 0.07
        options['model.objectives'] = objectives(con, base)
    if variant not in ('today', 'today_b16', 'multi_positive'):
        options['train_dataloader.batch_sampler'] = dict(type='per_group', k=2)
    if variant.endswith('_b16'):
        options['train_dataloader.batch_size'] = 16
    if variant == 'mp_pg2_hard_negatives':
        options['train_dataloader.dataset.hard_negatives'] = dict(file=negatives, per_sample=1)
    return options


#: with ``--config``: its loaders read in the main process (2 shared cores)
REAL_OPTIONS = {f'{k}.num_workers': 0 for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')}


def cell_spec(variant: str, seed: int, args, out_dir: str, options: dict, **kwargs):
    """The one-cell :class:`BenchmarkSpec`: tiny SCALE, or ``--config`` as written (``--pretrained-root``)."""
    from m5mm.experiments.paper_tables import BenchmarkSpec, Budget
    real = dict(REAL_OPTIONS, pretrained_root=args.pretrained_root) if args.config else {}
    options = {'optim.optimizer.lr': 1e-3, **real, **options}
    return BenchmarkSpec(methods=[args.config or 'scale'], modality_sets=[MODALITIES], seeds=[seed],
                         budget=Budget.parse(args.budget or f'epochs={args.epochs}'), data_root=args.data_root,
                         out_dir=out_dir, size='small' if args.config else 'tiny', cfg_options=options,
                         tasks=('retrieval',), tables=('methods',), **kwargs)


def train_batch_size(args) -> int:
    """The cells' train batch: ``--extra-options``' or the config's (the tiny preset's 8 without ``--config``)."""
    extra = json.loads(args.extra_options).get('train_dataloader.batch_size')
    if extra or not args.config:
        return int(extra or 8)
    from m5mm.utils.config import load_config
    return int(load_config(args.config).train_dataloader.batch_size)


def run_variant(variant: str, seed: int, args, negatives: str = '') -> dict:
    from m5mm.experiments.paper_tables import run_benchmark
    options = {**variant_options(variant, negatives, config_objectives(args.config), train_batch_size(args)),
               **json.loads(args.extra_options)}
    spec = cell_spec(variant, seed, args, os.path.join(args.out, variant), options,
                     keep_checkpoints=variant == 'mp_per_group2')
    outcome = run_benchmark(spec, log=lambda line: print(f'[{variant} seed {seed}] {line}', flush=True))
    return outcome['results'][0]


def learning_curve(variant: str, seed: int, args) -> dict:
    """Train one cell with the retrieval evaluation after every epoch (the cell's hooks plus an
    ``EvaluationHook(every_epoch=True)``; same config otherwise) -> ``{epoch: fine/coarse mAP@1}``."""
    from m5mm.engine.trainer import Trainer
    from m5mm.experiments.paper_tables.runner import resolve_cell
    spec = cell_spec(variant, seed, args, os.path.join(args.out, 'curve', variant),
                     variant_options(variant, base=config_objectives(args.config)))
    cell = spec.cells()[0]
    cfg, _ = resolve_cell(cell, spec)
    cfg.hooks = [*cfg.hooks, dict(type='EvaluationHook', tasks=('retrieval',), every_epoch=True)]
    work_dir = Path(spec.out_dir) / cell.name
    trainer = Trainer(cfg, work_dir=str(work_dir))
    try:
        trainer.train()
    finally:
        trainer.close()
    curve = {}
    for path in sorted(work_dir.glob('eval_epoch_*.json'), key=lambda p: int(p.stem.rsplit('_', 1)[1])):
        metrics = json.loads(path.read_text())
        curve[path.stem.rsplit('_', 1)[1]] = {f'{t.split("_")[1]} {m}': round(100 * metrics[t][m], 1)
                                              for t, m in METRICS}
    print(f'[{variant} seed {seed}] curve {json.dumps(curve)}', flush=True)
    return curve


def mine(seed: int, args) -> str:
    from m5mm.api import ProductEncoder
    from m5mm.evaluation.negative_mining import mine_negatives
    cell = Path(args.out) / 'mp_per_group2' / 'cells'
    cell_dir = next(p for p in cell.iterdir() if p.name.endswith(f'seed{seed}'))
    out = os.path.join(args.out, f'negatives_seed{seed}.jsonl')
    if not os.path.isfile(out):
        encoder = ProductEncoder.from_pretrained(str(cell_dir), device='cpu')
        mine_negatives(encoder, args.data_root, out, k=10, exclude='instance', manifest=train_manifest(args.config))
    return os.path.abspath(out)


def train_manifest(config: str = None) -> str:
    """The manifest ``config``'s train set reads (``features/manifest.jsonl`` for a config on cached tower
    features, whose model reads those features); None: ``DATA_ROOT/manifest.jsonl``."""
    if not config:
        return None
    from m5mm.utils.config import load_config
    return load_config(config).train_dataloader.dataset.get('manifest')


def train_instances(data_root: str) -> list:
    """The ``instance`` of every train record of ``DATA_ROOT/manifest.jsonl``, in manifest order."""
    from m5mm.deploy.parity import read_manifest_records
    return [r.get('instance') for r in read_manifest_records(data_root) if r.get('split', 'train') == 'train']


def batch_positives(data_root: str, *, batch_size: int, k: int, epochs: int = 20, seed: int = 0) -> dict:
    """How many same-instance pairs the train batches hold: a plain shuffle (``k=0``) or the
    ``per_group`` reordering of it (:func:`m5mm.datasets.group_batches.group_batches`), averaged
    over ``epochs`` shuffles. Returns pairs per full batch and the share of samples with at least
    one other listing of their instance in their batch."""
    import numpy as np
    from m5mm.datasets.group_batches import group_batches
    names = train_instances(data_root)
    codes = np.unique(np.asarray(names, dtype=str), return_inverse=True)[1]
    rng = np.random.default_rng(seed)
    pairs, with_positive, batches, samples = 0, 0, 0, 0
    for _ in range(epochs):
        order = rng.permutation(len(codes))
        if k:
            order, _ = group_batches(order, codes[order], batch_size=batch_size, k=k)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            counts = np.bincount(codes[order[start:start + batch_size]])
            pairs += int((counts * (counts - 1) // 2).sum())
            with_positive += int(counts[counts > 1].sum())
            batches += 1
            samples += batch_size
    return dict(batch_size=batch_size, sampler=f'per_group k={k}' if k else 'plain shuffle',
                pairs_per_batch=round(pairs / batches, 3), share_with_positive=round(with_positive / samples, 3))


def catalogue_facts(data_root: str) -> dict:
    """Train-split duplicate structure and the in-batch positives of each sampler."""
    import collections
    names = train_instances(data_root)
    listings = collections.Counter(collections.Counter(names).values())
    return dict(train_records=len(names), train_instances=len(set(names)),
                listings_per_instance={str(n): c for n, c in sorted(listings.items())},
                batches=[batch_positives(data_root, batch_size=b, k=k) for b in (8, 16) for k in (0, 2)])


def single_listing_catalogue(src: str, dst: str) -> dict:
    """Write ``dst``: the catalogue ``src`` with its train split cut to the first listing of each
    instance (the no-duplicates control); the evaluation splits and the media (linked) unchanged."""
    from m5mm.deploy.parity import read_manifest_records
    src_path, dst_path = Path(src).resolve(), Path(dst)
    dst_path.mkdir(parents=True, exist_ok=True)
    seen, kept = set(), []
    for record in read_manifest_records(src):
        if record.get('split', 'train') == 'train':
            if record.get('instance') in seen:
                continue
            seen.add(record.get('instance'))
        kept.append(record)
    for entry in src_path.iterdir():
        if entry.is_dir() and entry.name != 'tokenizer' and not (dst_path / entry.name).exists():
            (dst_path / entry.name).symlink_to(entry)
    (dst_path / 'manifest.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in kept), encoding='utf-8')
    return dict(source=str(src_path), records=len(kept), train_records=len(seen))


def plot(json_paths: list, png: str) -> None:
    """Bars of fine mAP@1, fine mAP@10 and coarse mAP@1 (mean, error bar = std over seeds), one
    panel per results file."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    reports = [json.loads(Path(p).read_text()) for p in json_paths]
    fig, axes = plt.subplots(len(reports), 1, figsize=(11, 3.2 * len(reports)), squeeze=False)
    for ax, report in zip(axes[:, 0], reports):
        rows = list(report['summary'].items())
        width = 0.8 / max(1, len(rows))
        names = [f'{t.split("_")[1]} {m}' for t, m in METRICS]
        x = np.arange(len(names))
        for j, (variant, row) in enumerate(rows):
            means = [row[n]['mean'] for n in names]
            stds = [row[n]['std'] or 0.0 for n in names]
            ax.bar(x + (j - (len(rows) - 1) / 2) * width, means, width, yerr=stds, capsize=2,
                   label=f'{variant} (n={len(row[names[0]]["per_seed"])})')
        ax.set_xticks(x)
        ax.set_xticklabels(names)
        ax.set_ylabel('%')
        ax.set_title(f'{label(report)}, {report["epochs"]} epochs' if isinstance(report['epochs'], int)
                     else label(report), fontsize=10)
        ax.grid(axis='y', alpha=0.3)
        ax.legend(fontsize=7, loc='center left', bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def label(report: dict) -> str:
    """The catalogue folder's name, with the budget when it is not in epochs (``steps=0``: untrained)."""
    name = Path(report['data_root']).name
    return name if isinstance(report['epochs'], int) else f'{name} ({report["epochs"]})'


def _table_rows(report: dict, rows: dict, sign: str) -> list:
    """Markdown rows ``| catalogue | name | seeds | metric ... |`` of ``{name: {metric: {mean, std, per_seed}}}``."""
    lines = []
    for name, row in rows.items():
        cells = []
        for metric in (f'{t.split("_")[1]} {m}' for t, m in METRICS):
            entry = row[metric]
            spread = f' ± {entry["std"]:.1f}' if entry['std'] is not None else ''
            cells.append(f'{entry["mean"]:{sign}.1f}{spread} ({"/".join(f"{v:{sign}.1f}" for v in entry["per_seed"])})')
        lines.append(f'| {label(report)} | `{name}` | {len(row[metric]["per_seed"])} | ' + ' | '.join(cells) + ' |')
    return lines


def markdown(json_paths: list) -> str:
    """The docs table of the results files: one row per catalogue and variant, mean ± std (per seed)."""
    reports = [json.loads(Path(path).read_text()) for path in json_paths]
    lines = ['| catalogue | variant | seeds | fine mAP@1 | fine mAP@10 | coarse mAP@1 |', '|---|---|---|---|---|---|']
    for report in reports:
        lines += _table_rows(report, report['summary'], '')
    lines += ['', '| catalogue | paired difference (points) | seeds | fine mAP@1 | fine mAP@10 | coarse mAP@1 |',
              '|---|---|---|---|---|---|']
    for report in reports:
        lines += _table_rows(report, paired(report['cells']), '+')
    return '\n'.join(lines)


def summarise(cells: dict) -> dict:
    """mean ± sample std (in %) of each variant's metrics over the seeds it has."""
    table = {}
    for variant in VARIANTS:
        runs = [c for key, c in cells.items() if key.startswith(variant + '/')]
        if not runs:
            continue
        row = {}
        for task, metric in METRICS:
            values = [100 * r['metrics'][task][metric] for r in runs]
            row[f'{task.split("_")[1]} {metric}'] = dict(
                per_seed=[round(v, 1) for v in values], mean=round(statistics.mean(values), 1),
                std=round(statistics.stdev(values), 1) if len(values) > 1 else None)
        table[variant] = row
    return table


#: (variant, reference) pairs whose per-seed differences are reported (same seed: same init and data)
PAIRS = (*((v, 'today') for v in VARIANTS[1:5]), ('mp_pg2_hard_negatives', 'mp_per_group2'),
         ('sigmoid_pg2', 'mp_per_group2'), ('today_b16', 'today'), ('mp_pg2_b16', 'today_b16'),
         ('sigmoid_pg2_b16', 'today_b16'), ('sigmoid_pg2_b16', 'mp_pg2_b16'),
         ('sigmoid_pg2_prior_bias', 'mp_per_group2'), ('sigmoid_pg2_prior_bias', 'sigmoid_pg2'),
         *((v, r) for v in VARIANTS[9:] for r in ('mp_per_group2', 'sigmoid_pg2')))


def paired(cells: dict) -> dict:
    """``{'A - B': {metric: per-seed differences, mean, std}}`` in points, over the seeds both have."""
    out = {}
    for a, b in PAIRS:
        seeds = sorted({c['seed'] for k, c in cells.items() if k.startswith(a + '/')}
                       & {c['seed'] for k, c in cells.items() if k.startswith(b + '/')})
        if not seeds:
            continue
        row = {}
        for task, metric in METRICS:
            deltas = [100 * (cells[f'{a}/seed{s}']['metrics'][task][metric]
                             - cells[f'{b}/seed{s}']['metrics'][task][metric]) for s in seeds]
            row[f'{task.split("_")[1]} {metric}'] = dict(
                per_seed=[round(d, 1) for d in deltas], mean=round(statistics.mean(deltas), 1),
                std=round(statistics.stdev(deltas), 1) if len(deltas) > 1 else None)
        out[f'{a} - {b}'] = row
    return out


def finished_cells(out: str) -> dict:
    """``{variant/seedK: facts and metrics}`` of every cell with a ``result.json`` under ``out``."""
    cells = {}
    for variant in VARIANTS:
        for path in sorted(Path(out, variant, 'cells').glob('*/result.json')):
            result = json.loads(path.read_text())
            cells[f'{variant}/seed{result["seed"]}'] = dict(
                seed=result['seed'], steps=result.get('steps'), train_seconds=result.get('train_seconds'),
                metrics={t: result['metrics'][t] for t, _ in METRICS})
    return cells


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root')
    parser.add_argument('--config', default=None,
                        help='train this config as written (e.g. configs/scale_5mod_packaged_cached.py: the real '
                             'towers) instead of the tiny from-scratch SCALE')
    parser.add_argument('--pretrained-root', default='data/pretrained', help='with --config: its pretrained_root')
    parser.add_argument('--epochs', type=int, default=2)
    parser.add_argument('--budget', default=None,
                        help="a paper_tables budget instead of --epochs, e.g. 'steps=0' for the untrained model")
    parser.add_argument('--seeds', default='0,1,2')
    parser.add_argument('--variants', default=','.join(DEFAULT_VARIANTS), help=f'any of {",".join(VARIANTS)}')
    parser.add_argument('--out', help='work folder of the cells')
    parser.add_argument('--json', required=True, help='results file (rewritten after every cell); with --plot, '
                                                      'the results files to draw, comma-separated')
    parser.add_argument('--curve', action='store_true',
                        help='learning curves instead: the --cells (or --variants x --seeds) evaluated after every '
                             'epoch, written to --json')
    parser.add_argument('--plot', default=None,
                        help='only draw the --json files into this PNG (and print their markdown table)')
    parser.add_argument('--single-listing-of', default=None,
                        help='first write --data-root as this catalogue with one train listing per instance')
    parser.add_argument('--cells', default=None, help='variant:seed,... to run (default: seeds x variants)')
    parser.add_argument('--num-threads', type=int, default=1)
    parser.add_argument('--extra-options', default='{}',
                        help='JSON dict of --cfg-options for every cell, e.g. '
                             '\'{"default_hooks.evaluation.every_epoch": true}\' for a learning curve')
    args = parser.parse_args(argv)
    if args.plot:
        plot(args.json.split(','), args.plot)
        print(markdown(args.json.split(',')))
        return {}
    if not args.data_root or not args.out:
        parser.error('--data-root and --out are required (unless --plot)')
    control = single_listing_catalogue(args.single_listing_of, args.data_root) if args.single_listing_of else None
    facts = dict(catalogue_facts(args.data_root), **(dict(single_listing_of=control) if control else {}))
    import torch
    torch.set_num_threads(args.num_threads)
    plan = [(v, int(s)) for v, s in (c.split(':') for c in args.cells.split(','))] if args.cells else \
        [(v, int(s)) for s in args.seeds.split(',') for v in args.variants.split(',')]
    if args.curve:
        curves = {f'{v}/seed{s}': learning_curve(v, s, args) for v, s in plan}
        Path(args.json).write_text(json.dumps(dict(issue=24, data_root=args.data_root, epochs=args.epochs,
                                                   catalogue=facts, curves=curves), indent=1))
        return curves
    for variant, seed in plan:
        negatives = mine(seed, args) if variant == 'mp_pg2_hard_negatives' else ''
        run_variant(variant, seed, args, negatives)
        cells = finished_cells(args.out)
        report = dict(issue=24, data_root=args.data_root, epochs=args.budget or args.epochs,
                      size=(f'{args.config} as written (pretrained_root {args.pretrained_root})' if args.config
                            else 'tiny (width 32, batch 8 unless the variant says 16)'),
                      lr=1e-3, variants=DESCRIPTIONS, extra_options=json.loads(args.extra_options),
                      machine=f'2 shared CPU cores (AMD EPYC, AVX-512), load average {os.getloadavg()[0]:.1f} '
                              f'after this cell; {args.num_threads} torch thread(s)',
                      catalogue=facts, summary=summarise(cells), paired=paired(cells), cells=cells)
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        tmp = f'{args.json}.tmp{os.getpid()}'
        Path(tmp).write_text(json.dumps(report, indent=1, default=str))
        os.replace(tmp, args.json)
        print(json.dumps(report['summary']), flush=True)
    return report


if __name__ == '__main__':
    main()
