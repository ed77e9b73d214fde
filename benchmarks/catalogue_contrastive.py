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
* ``sigmoid_pg2``: the ``mp_per_group2`` setting with :class:`SigmoidContrastiveObjective` instead.

Cells run seed-major (every variant of seed 0 first), or the ``--cells variant:seed,...`` given;
finished cells (``OUT/<variant>/cells/*/result.json``) are reused, so several invocations can share
one ``--out``. The JSON (every finished cell under ``--out`` and the summary) is rewritten after each cell.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODALITIES = ('image', 'text', 'table', 'video', 'audio')
VARIANTS = ('today', 'multi_positive', 'mp_per_group2', 'mp_pg2_hard_negatives', 'sigmoid_pg2')
DESCRIPTIONS = {
    'today': 'InterModalityContrastiveObjective (diagonal positives), plain shuffle',
    'multi_positive': "InterModalityContrastiveObjective(group_by='instance'), plain shuffle",
    'mp_per_group2': "group_by='instance' + batch_sampler=dict(type='per_group', k=2)",
    'mp_pg2_hard_negatives': "mp_per_group2 + hard_negatives=dict(per_sample=1), mined k=10 by that seed's "
                             "mp_per_group2 model",
    'sigmoid_pg2': "SigmoidContrastiveObjective(group_by='instance') + batch_sampler per_group k=2",
}
METRICS = (('retrieval_fine', 'mAP@1'), ('retrieval_fine', 'mAP@10'), ('retrieval_coarse', 'mAP@1'))


def objectives(con: dict) -> dict:
    """SCALE's default objectives for the five modalities with ``con`` replaced."""
    from m5mm.models.objectives import default_objectives
    cfgs = default_objectives(list(MODALITIES), {'table': 'text'})
    cfgs['con'] = con
    return cfgs


def variant_options(variant: str, negatives: str = '') -> dict:
    """The ``--cfg-options`` of a variant."""
    options = {}
    if variant != 'today':
        con = dict(type='SigmoidContrastiveObjective' if variant.startswith('sigmoid') else
                   'InterModalityContrastiveObjective', group_by='instance')
        options['model.objectives'] = objectives(con)
    if variant in ('mp_per_group2', 'mp_pg2_hard_negatives', 'sigmoid_pg2'):
        options['train_dataloader.batch_sampler'] = dict(type='per_group', k=2)
    if variant == 'mp_pg2_hard_negatives':
        options['train_dataloader.dataset.hard_negatives'] = dict(file=negatives, per_sample=1)
    return options


def run_variant(variant: str, seed: int, args, negatives: str = '') -> dict:
    from m5mm.experiments.paper_tables import BenchmarkSpec, Budget, run_benchmark
    options = {'optim.optimizer.lr': 1e-3, **variant_options(variant, negatives)}
    spec = BenchmarkSpec(methods=['scale'], modality_sets=[MODALITIES], seeds=[seed],
                         budget=Budget.parse(f'epochs={args.epochs}'), data_root=args.data_root,
                         out_dir=os.path.join(args.out, variant), size='tiny', cfg_options=options,
                         tasks=('retrieval',), keep_checkpoints=variant == 'mp_per_group2', tables=('methods',))
    outcome = run_benchmark(spec, log=lambda line: print(f'[{variant} seed {seed}] {line}', flush=True))
    return outcome['results'][0]


def mine(seed: int, args) -> str:
    from m5mm.api import ProductEncoder
    from m5mm.evaluation.negative_mining import mine_negatives
    cell = Path(args.out) / 'mp_per_group2' / 'cells'
    cell_dir = next(p for p in cell.iterdir() if p.name.endswith(f'seed{seed}'))
    out = os.path.join(args.out, f'negatives_seed{seed}.jsonl')
    if not os.path.isfile(out):
        encoder = ProductEncoder.from_pretrained(str(cell_dir), device='cpu')
        mine_negatives(encoder, args.data_root, out, k=10, exclude='instance')
    return os.path.abspath(out)


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
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--epochs', type=int, default=2)
    parser.add_argument('--seeds', default='0,1,2')
    parser.add_argument('--variants', default=','.join(VARIANTS))
    parser.add_argument('--out', required=True, help='work folder of the cells')
    parser.add_argument('--json', required=True, help='results file (rewritten after every cell)')
    parser.add_argument('--cells', default=None, help='variant:seed,... to run (default: seeds x variants)')
    parser.add_argument('--num-threads', type=int, default=1)
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.num_threads)
    plan = [(v, int(s)) for v, s in (c.split(':') for c in args.cells.split(','))] if args.cells else \
        [(v, int(s)) for s in args.seeds.split(',') for v in args.variants.split(',')]
    for variant, seed in plan:
        negatives = mine(seed, args) if variant == 'mp_pg2_hard_negatives' else ''
        run_variant(variant, seed, args, negatives)
        cells = finished_cells(args.out)
        report = dict(issue=24, data_root=args.data_root, epochs=args.epochs, size='tiny (width 32, batch 8)',
                      lr=1e-3, variants=DESCRIPTIONS,
                      machine='2 shared CPU cores (AMD EPYC, AVX-512), load average 20-40; 1 torch thread',
                      summary=summarise(cells), cells=cells)
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        tmp = f'{args.json}.tmp{os.getpid()}'
        Path(tmp).write_text(json.dumps(report, indent=1, default=str))
        os.replace(tmp, args.json)
        print(json.dumps(report['summary']), flush=True)
    return report


if __name__ == '__main__':
    main()
