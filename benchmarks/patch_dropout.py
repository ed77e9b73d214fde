"""Patch / frame dropout (FLIP, ``patch_keep`` / ``frame_keep``): training speed against retrieval
on a benchmark catalogue.

    python benchmarks/patch_dropout.py --data-root /path/demo --keeps 1.0 0.5 0.25 --seeds 0 1 2 --epochs 5 \
        --out /path/work --json benchmarks/results/patch_dropout_demo.json
    python benchmarks/patch_dropout.py --tower video ... --json benchmarks/results/frame_dropout_demo.json

The CLIP pair of the benchmark runner (width 256: its ``small`` size) with the dropout of one tower
at each ``--keeps`` value. ``--tower image`` (the default): titles + images
(``configs/fusion/clip_2mod.py``), ``model.encoders.image.patch_keep``; ``--tower video``: titles +
video (``configs/fusion/clip_5mod.py`` restricted to them, as the runner does for that modality
set), ``model.encoders.video.frame_keep``:

* **speed**, one process, one model: the keep is switched per step on the same real batches
  (``--speed-batch`` samples of the catalogue's training split, the same seeds), ABBA order per
  batch so load drifts hit every arm alike; forward + backward timed, wall and CPU seconds of the
  process (data loading and the optimizer, identical in every arm, are not), the FLOPs each arm
  executes from ``torch.utils.flop_counter``; the ratios to keep 1.0 are the figures (they are
  within one run);
* **retrieval**: one training run per (keep, seed) through the benchmark runner
  (:func:`m5mm.experiments.paper_tables.run_benchmark`, ``--epochs`` epochs, retrieval task,
  ``num_workers=0``); evaluation encodes every patch / frame (dropout is off in eval mode). With
  ``--equal-time`` each keep below 1 also trains ``round(epochs x its measured speedup)`` epochs:
  about the compute of keep 1.0's run, FLIP's comparison (more epochs in the same time). With
  ``--by-modality`` each cell is also evaluated with one modality present at a time (``tools/test.py
  --modalities M``: what each tower alone retrieves), its metrics named ``... (M only)``.

Cells already finished under ``--out`` are reused. Prints both tables and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'benchmarks'))
#: tower -> (the CLIP pair's modalities, the tower's dropout attribute)
TOWERS = {'image': (('text', 'image'), 'patch_keep'), 'video': (('text', 'video'), 'frame_keep')}
METRICS = (('retrieval_fine', 'mAP@1'), ('retrieval_fine', 'mAP@10'), ('retrieval_coarse', 'mAP@1'),
           ('retrieval_coarse', 'mAP@10'))


def set_keep(model, keep: float, *, tower: str = 'image') -> None:
    """Patch / frame dropout of ``tower`` (the attribute its forward reads: see :data:`TOWERS`)."""
    attr = TOWERS[tower][1]
    towers = [m for name, m in model.named_modules() if name.endswith(f'encoders.{tower}')]
    if len(towers) != 1 or not hasattr(towers[0], attr):
        raise ValueError(f'expected one {tower} tower with {attr}, found {len(towers)}')
    setattr(towers[0], attr, keep)


def measure_speed(args) -> dict:
    """Forward + backward of each keep on the same batches, interleaved ABBA; samples/s and FLOPs."""
    import torch
    from packed_step import step_flops, timed_step

    from m5mm.datasets.loaders import build_dataset
    from m5mm.engine.builder import build_model
    from m5mm.experiments.paper_tables.cells import Cell
    from m5mm.experiments.paper_tables.cell_config import cell_config
    modalities, attr = TOWERS[args.tower]
    cfg, _ = cell_config(Cell(method='clip', modalities=modalities, seed=0), data_root=args.data_root,
                         size='small')
    dataset = build_dataset(cfg.train_dataloader.dataset)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(dataset), generator=gen).tolist()
    batches = [dataset.collate([dataset[order[(b * args.speed_batch + i) % len(order)]]
                                for i in range(args.speed_batch)]) for b in range(args.speed_steps + 1)]
    torch.manual_seed(0)
    model = build_model(cfg.model, dataset.meta).train()
    autocast = torch.autocast('cpu', enabled=False)
    flops, times, cpu_times = {}, {k: [] for k in args.keeps}, {k: [] for k in args.keeps}
    for keep in args.keeps:
        set_keep(model, keep, tower=args.tower)
        flops[keep] = step_flops(model, batches[0])
    for b, batch in enumerate(batches):
        for keep in (args.keeps if b % 2 == 0 else args.keeps[::-1]):
            set_keep(model, keep, tower=args.tower)
            _, seconds, cpu_seconds = timed_step(model, batch, b, autocast)
            if b:   # batch 0 warms up
                times[keep].append(seconds)
                cpu_times[keep].append(cpu_seconds)
    rows = []
    for keep in args.keeps:
        step_s = statistics.median(times[keep])
        rows.append({attr: keep, 'step_s_median': step_s, 'step_s': times[keep],
                     'samples_per_s': args.speed_batch / step_s, 'gflop_per_step': flops[keep] / 1e9,
                     'speedup': statistics.median(times[args.keeps[0]]) / step_s,
                     'cpu_step_s_median': statistics.median(cpu_times[keep]),
                     'cpu_speedup': statistics.median(cpu_times[args.keeps[0]]) / statistics.median(cpu_times[keep])})
    return dict(batch_size=args.speed_batch, steps=args.speed_steps, rows=rows)


def run_retrieval(keep: float, seed: int, epochs: int, args) -> dict:
    """One training + retrieval evaluation cell (reused when finished)."""
    from m5mm.experiments.paper_tables import BenchmarkSpec, Budget, run_benchmark
    modalities, attr = TOWERS[args.tower]
    folder = f'keep{keep:g}' if epochs == args.epochs else f'keep{keep:g}_epochs{epochs}'
    spec = BenchmarkSpec(methods=['clip'], modality_sets=[modalities], seeds=[seed],
                         budget=Budget.parse(f'epochs={epochs}'), data_root=args.data_root,
                         out_dir=os.path.join(args.out, folder), size='small',
                         cfg_options={f'model.encoders.{args.tower}.{attr}': keep,
                                      'train_dataloader.num_workers': 0, 'val_dataloader.num_workers': 0,
                                      'test_dataloader.num_workers': 0},
                         tasks=('retrieval',), tables=('methods',), keep_checkpoints=args.by_modality)
    result = run_benchmark(spec, log=lambda line: print(f'[keep {keep:g} seed {seed}] {line}', flush=True))
    cell = result['results'][0]
    metrics = _percent(cell['metrics'])
    if args.by_modality:
        cell_dir = Path(spec.out_dir) / 'cells' / spec.cells()[0].name
        for modality in modalities:
            metrics.update({f'{k} ({modality} only)': v for k, v in _percent(one_modality(cell_dir, modality)).items()})
    return {attr: keep, 'epochs': epochs, 'seed': seed, 'train_seconds': cell.get('train_seconds'),
            'steps': cell.get('steps'), 'metrics': metrics}


def _percent(metrics: dict) -> dict:
    return {f'{t.split("_")[1]} {m}': 100 * metrics[t][m] for t, m in METRICS}


def one_modality(cell_dir: Path, modality: str) -> dict:
    """Retrieval metrics of a trained cell with only ``modality`` present (reused when stored)."""
    from m5mm.api.saved_config import load_config_file
    from m5mm.evaluation.evaluate_checkpoint import evaluate_checkpoint
    out = cell_dir / f'test_{modality}_only'
    if (out / 'results.json').is_file():
        return json.loads((out / 'results.json').read_text())
    if not (cell_dir / 'checkpoints').is_dir():
        raise FileNotFoundError(f'{cell_dir} has no checkpoint (trained without --by-modality): remove it or '
                                f'use another --out')
    results, _ = evaluate_checkpoint(load_config_file(cell_dir / 'config.json'), cell_dir, work_dir=out,
                                     tasks=['retrieval'], modalities=[modality])
    return results


def summarise(cells: list, *, attr: str = 'patch_keep') -> list:
    """mean ± sample sd of every metric (and of the training seconds) per (keep, epochs); ``attr``
    names the keep (the tower's dropout attribute)."""
    rows = []
    for keep, epochs in dict.fromkeys((c[attr], c['epochs']) for c in cells):
        runs = [c for c in cells if (c[attr], c['epochs']) == (keep, epochs)]
        row = {attr: keep, 'epochs': epochs, 'seeds': [c['seed'] for c in runs],
               'train_seconds': statistics.mean(c['train_seconds'] for c in runs)}
        for name in runs[0]['metrics']:
            values = [c['metrics'][name] for c in runs]
            row[name] = dict(mean=statistics.mean(values), sd=statistics.stdev(values) if len(values) > 1 else None,
                             per_seed=values)
        rows.append(row)
    return rows


def format_tables(speed: dict, summary: list, *, attr: str = 'patch_keep') -> str:
    lines = [f'speed (forward + backward, batch {speed["batch_size"]}, median of {speed["steps"]} steps)',
             f'{"keep":>5} {"samples/s":>10} {"GFLOP":>8} {"speedup":>8}']
    lines += [f'{r[attr]:>5g} {r["samples_per_s"]:>10.1f} {r["gflop_per_step"]:>8.2f} {r["speedup"]:>7.2f}x'
              for r in speed['rows']]
    names = [k for k in summary[0] if k not in (attr, 'epochs', 'seeds', 'train_seconds')]
    lines += ['', 'retrieval (%, mean ± sd over seeds)',
              f'{"keep":>5} {"epochs":>6} {"train s":>7} ' + ' '.join(f'{n:>16}' for n in names)]
    for r in summary:
        cells = [f'{r[n]["mean"]:.1f} ± {r[n]["sd"] or 0:.1f}' for n in names]
        lines.append(f'{r[attr]:>5g} {r["epochs"]:>6} {r["train_seconds"]:>7.1f} '
                     + ' '.join(f'{c:>16}' for c in cells))
    return '\n'.join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--tower', choices=sorted(TOWERS), default='image',
                        help='image: titles + images, patch_keep; video: titles + video, frame_keep')
    parser.add_argument('--keeps', type=float, nargs='+', default=[1.0, 0.5, 0.25])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--epochs', type=int, default=5)
    parser.add_argument('--speed-batch', type=int, default=32)
    parser.add_argument('--speed-steps', type=int, default=8)
    parser.add_argument('--skip-retrieval', action='store_true')
    parser.add_argument('--equal-time', action='store_true',
                        help='also train each keep < 1 for epochs x its measured speedup')
    parser.add_argument('--by-modality', action='store_true',
                        help='also evaluate each cell with one modality present at a time (keeps checkpoints)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', required=True, help='work folder of the training cells')
    parser.add_argument('--json', required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    import torch
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    modalities, attr = TOWERS[args.tower]
    speed = measure_speed(args)
    plan = [(k, args.epochs) for k in args.keeps]
    if args.equal_time:
        plan += [(r[attr], round(args.epochs * r['speedup'])) for r in speed['rows'] if r[attr] < 1]
    cells = [] if args.skip_retrieval else [run_retrieval(k, s, e, args) for s in args.seeds for k, e in plan]
    summary = summarise(cells, attr=attr) if cells else []
    report = dict(command=' '.join(['python benchmarks/patch_dropout.py'] + (argv or sys.argv[1:])),
                  data_root=args.data_root, epochs=args.epochs, method='clip', tower=args.tower,
                  modalities=list(modalities),
                  size='small', speed=speed, retrieval=summary, cells=cells,
                  machine=dict(platform=platform.platform(), threads=torch.get_num_threads(),
                               load_before=load_before, load_after=os.getloadavg()))
    print(format_tables(speed, summary, attr=attr) if summary else json.dumps(speed['rows'], indent=1))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return report


if __name__ == '__main__':
    main()
