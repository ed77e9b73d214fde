"""Eager vs ``torch.compile`` over a long CPU run, with bounded shapes (bucketing + pad-to-multiple).

    python benchmarks/compile_bounded.py                                   # small SCALE, 200 steps
    python benchmarks/compile_bounded.py --steps 3 --config configs/scale_5mod_tiny.py   # smoke

Arms, all in one process on the same model weights (copies), trained step by step in turn on the
same batches (so load drifts hit every arm alike): ``eager`` and ``compile`` (``model.compile=dict()``,
inductor, automatic dynamic shapes) on bounded batches (``train_dataloader.length_buckets`` and
``pad_to_multiple`` for titles, tables and audio, docs/training.md), and ``eager_padded`` /
``compile_padded`` on today's per-batch padding (``--arms`` picks). Reported per arm: total seconds
over all steps **warm-up (compilation) included**, the first step's seconds, the median step, and the
distinct input shapes it saw; data loading is not timed.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ARMS = ('eager', 'compile', 'eager_padded', 'compile_padded')
#: pad-to-multiple per padded modality key (audio: mel frames, a multiple of the encoder's patch_frames)
MULTIPLES = dict(text=12, table=16, audio=64)


def bounded_loader_cfg(cfg, pool_batches: int) -> dict:
    """``cfg.train_dataloader`` with length buckets and pad-to-multiple."""
    loader = copy.deepcopy(cfg.train_dataloader.to_dict() if hasattr(cfg.train_dataloader, 'to_dict')
                           else dict(cfg.train_dataloader))
    modalities = loader['dataset']['modalities']
    for m, multiple in MULTIPLES.items():
        if m in modalities:
            entry = dict(modalities[m] or {})
            entry['spec'] = dict(entry.get('spec') or {}, pad_to_multiple=multiple)
            modalities[m] = entry
    loader['length_buckets'] = dict(pool_batches=pool_batches)
    return loader


def shapes_of(batch) -> tuple:
    """The batch's tensor shapes (one signature per distinct input shape set)."""
    return tuple((m, k, tuple(v.shape)) for m, entry in batch.items() if isinstance(entry, dict)
                 for k, v in entry.items() if hasattr(v, 'shape'))


def batches(loader, steps: int):
    """``steps`` batches of ``loader`` over as many epochs as needed."""
    epoch, done = 0, 0
    while done < steps:
        if hasattr(loader.sampler, 'set_epoch'):
            loader.sampler.set_epoch(epoch)
        for batch in loader:
            yield batch
            done += 1
            if done == steps:
                return
        epoch += 1


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='configs/scale_5mod_small.py')
    parser.add_argument('--steps', type=int, default=200)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--pool-batches', type=int, default=8)
    parser.add_argument('--arms', nargs='+', default=['eager', 'compile', 'eager_padded'], choices=ARMS)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument('--out', default='benchmarks/results/compile_bounded.json')
    args = parser.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    import torch

    from m5mm.engine.builder import build_model
    from m5mm.datasets.loaders import build_dataloader
    from m5mm.experiments.catalogues.demo import make_demo_dataset
    from m5mm.models.compile_stacks import compile_stacks
    from m5mm.utils.config import load_config
    if not (Path(args.data_root) / 'manifest.jsonl').is_file():
        make_demo_dataset(args.data_root)
    cfg = load_config(args.config, {'data_root': args.data_root, 'train_dataloader.batch_size': args.batch_size,
                                    'train_dataloader.num_workers': 0})
    loaders = {'bounded': build_dataloader(bounded_loader_cfg(cfg, args.pool_batches), seed=args.seed,
                                           shuffle=True, drop_last=True),
               'padded': build_dataloader(cfg.train_dataloader, seed=args.seed, shuffle=True, drop_last=True)}
    torch.manual_seed(args.seed)
    base = build_model(cfg.model, loaders['padded'].dataset.meta).train()
    models, optimizers = {}, {}
    for arm in args.arms:
        models[arm] = copy.deepcopy(base)
        if arm.startswith('compile'):
            compile_stacks(models[arm], {})
        optimizers[arm] = torch.optim.AdamW(models[arm].parameters(), lr=1e-4)
    times = {arm: [] for arm in args.arms}
    result: dict = {}
    losses = {arm: [] for arm in args.arms}
    shapes = {'bounded': set(), 'padded': set()}
    streams = {kind: batches(loader, args.steps) for kind, loader in loaders.items()
               if any(arm.endswith('_padded') == (kind == 'padded') for arm in args.arms)}
    for step in range(args.steps):
        current = {kind: next(stream) for kind, stream in streams.items()}
        for kind, batch in current.items():
            shapes[kind].add(shapes_of(batch))
        for arm in (args.arms if step % 2 == 0 else args.arms[::-1]):
            batch = current['padded' if arm.endswith('_padded') else 'bounded']
            torch.manual_seed(args.seed + step)
            tic = time.perf_counter()
            out = models[arm](batch)
            loss = sum(v for k, v in out.items() if k.startswith('loss'))
            loss.backward()
            optimizers[arm].step()
            optimizers[arm].zero_grad(set_to_none=True)
            times[arm].append(time.perf_counter() - tic)
            losses[arm].append(float(loss.detach()))
        if step % 10 == 0 or step == args.steps - 1:
            print(f'step {step}: ' + ', '.join(f'{a} {sum(t):.1f}s' for a, t in times.items()), flush=True)
            result = write(args, argv, times, losses, shapes, done=step + 1)   # partial results survive a kill
    print(format_table(result['rows'], args))
    print(f'wrote {args.out}')
    return result


def write(args, argv, times: dict, losses: dict, shapes: dict, *, done: int) -> dict:
    """The JSON of the first ``done`` steps (written as the run goes)."""
    import torch
    rows = [dict(arm=arm, total_s=sum(t), first_step_s=t[0], median_step_s=statistics.median(t),
                 samples_per_s=args.batch_size * len(t) / sum(t),
                 shapes=len(shapes['padded' if arm.endswith('_padded') else 'bounded']),
                 final_loss=losses[arm][-1]) for arm, t in times.items()]
    result = dict(command=' '.join(['python benchmarks/compile_bounded.py'] + (argv or sys.argv[1:])),
                  config=args.config, steps=args.steps, steps_done=done, batch_size=args.batch_size,
                  seed=args.seed, multiples=MULTIPLES, pool_batches=args.pool_batches,
                  machine=dict(platform=platform.platform(), threads=torch.get_num_threads(),
                               load_avg=os.getloadavg()),
                  rows=rows, step_s=times, losses=losses)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return result


def format_table(rows: list, args) -> str:
    head = f'{"arm":<15} {"total s":>9} {"first step s":>13} {"median step s":>14} {"samples/s":>10} {"shapes":>7}'
    lines = [f'{Path(args.config).stem}, {args.steps} steps of batch {args.batch_size}, warm-up included',
             head, '-' * len(head)]
    for r in rows:
        lines.append(f'{r["arm"]:<15} {r["total_s"]:>9.1f} {r["first_step_s"]:>13.1f} {r["median_step_s"]:>14.3f} '
                     f'{r["samples_per_s"]:>10.2f} {r["shapes"]:>7}')
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
