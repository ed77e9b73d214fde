"""Activation checkpointing and torch.compile: the largest batch within a peak-memory budget, and the speed.

    python benchmarks/memory_checkpointing.py                            # paper-size SCALE, 12 GB budget
    python benchmarks/memory_checkpointing.py --budget-gb 8 --batches 4 8 16 32 --modes eager checkpointing
    python benchmarks/memory_checkpointing.py --config configs/scale_5mod_small.py --modes eager compile

Each (mode, batch size) trains in its own process on real demo batches: one warm-up step, then
``--steps`` timed optimizer steps (forward, backward, AdamW, bf16 autocast where native, see
``--precision``), data loading not timed;
its peak RSS is the process's. Modes: ``eager``; ``checkpointing`` (model ``grad_checkpointing=True``);
``compile`` (model ``compile=dict()``: inductor, automatic dynamic shapes; its compilation happens in
the warm-up step and is reported separately). For each mode the batch sizes run in increasing order
until one exceeds the budget: the largest one within it is the result. On a GPU the peak is
``torch.cuda.max_memory_allocated``. Prints a table, writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MODES = {'eager': {}, 'checkpointing': {'grad_checkpointing': True}, 'compile': {'compile': {}}}


def peak_gb() -> float:
    """This process's peak memory: GPU allocations on a GPU, else the peak RSS."""
    import torch
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def run_worker(config: str, mode: str, batch_size: int, steps: int, data_root: str, precision: str) -> dict:
    """Train ``steps`` timed steps of ``config`` in ``mode``; returns the measurements."""
    import torch

    from m5mm.engine.builder import build_model
    from m5mm.datasets.loaders import build_dataloader
    from accelerate.utils import send_to_device
    from m5mm.utils.config import load_config
    cfg = load_config(config, {'data_root': data_root, 'train_dataloader.batch_size': batch_size,
                               'train_dataloader.num_workers': 0})
    loader = build_dataloader(cfg.train_dataloader, seed=0, shuffle=True, drop_last=True)
    batches = [batch for batch, _ in zip(loader, range(steps + 1))]
    if len(batches) < steps + 1:
        raise SystemExit(f'{data_root} has {len(batches)} training batches of {batch_size}; {steps + 1} are needed '
                         f'(a larger --data-root, or fewer --steps)')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    model = build_model(dict(cfg.model.to_dict(), **MODES[mode]), loader.dataset.meta).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(batch):
        with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == 'bf16'):
            outputs = model(send_to_device(batch, torch.device(device)))
        sum(v for k, v in outputs.items() if k.startswith('loss')).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == 'cuda':
            torch.cuda.synchronize()

    tic = time.perf_counter()
    step(batches[0])
    warmup = time.perf_counter() - tic
    tic = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    elapsed = time.perf_counter() - tic
    samples = sum(len(b['meta']['ids']) for b in batches[1:])
    return dict(config=config, mode=mode, batch_size=batch_size, precision=precision, steps=len(batches) - 1,
                warmup_s=warmup,
                samples_per_s=samples / elapsed, step_s=elapsed / (len(batches) - 1), peak_gb=peak_gb())


def format_table(rows: list) -> str:
    head = f'{"mode":<14} {"batch":>5} {"samples/s":>10} {"s/step":>7} {"warm-up s":>9} {"peak":>8}'
    lines = [head, '-' * len(head)]
    for r in rows:
        lines.append(f'{r["mode"]:<14} {r["batch_size"]:>5} {r["samples_per_s"]:>10.2f} {r["step_s"]:>7.2f} '
                     f'{r["warmup_s"]:>9.1f} {r["peak_gb"]:>6.2f}GB')
    return '\n'.join(lines)


def summarise(rows: list, budget_gb: float) -> dict:
    """Per mode: the largest batch within the budget, its samples/s, and the peak memory each more
    sample costs (the slope between the two largest batches measured)."""
    out = {}
    for mode in dict.fromkeys(r['mode'] for r in rows):
        runs = sorted((r for r in rows if r['mode'] == mode), key=lambda r: r['batch_size'])
        fitting = [r for r in runs if r['peak_gb'] <= budget_gb]
        best = fitting[-1] if fitting else None
        slope = None if len(runs) < 2 else \
            (runs[-1]['peak_gb'] - runs[-2]['peak_gb']) / (runs[-1]['batch_size'] - runs[-2]['batch_size'])
        out[mode] = dict(largest_batch=best and best['batch_size'], samples_per_s=best and best['samples_per_s'],
                         mb_per_sample=None if slope is None else 1024 * slope)
    return out


def run_mode(args, mode: str) -> list:
    """The mode's batch sizes in increasing order until one exceeds the budget (or fails)."""
    rows = []
    for batch in sorted(args.batches):
        cmd = [sys.executable, __file__, '--worker', mode, str(batch), '--config', args.config,
               '--steps', str(args.steps), '--data-root', args.data_root, '--precision', args.precision]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=dict(os.environ, HF_HUB_OFFLINE='1'))
        if out.returncode != 0:
            print(f'{mode} batch {batch} failed (out of memory, or an error below):\n{out.stderr[-1500:]}', flush=True)
            break
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
        if rows[-1]['peak_gb'] > args.budget_gb:
            break
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='configs/scale_5mod.py')
    parser.add_argument('--modes', nargs='+', default=['eager', 'checkpointing'], choices=sorted(MODES))
    parser.add_argument('--batches', nargs='+', type=int, default=[4, 8, 16, 32, 64])
    parser.add_argument('--budget-gb', type=float, default=12.0)
    parser.add_argument('--steps', type=int, default=2)
    parser.add_argument('--data-root', default='data/demo', help='demo catalogue (generated if absent)')
    parser.add_argument('--precision', choices=('auto', 'bf16', 'fp32'), default='auto',
                        help="autocast dtype; 'auto': bf16 where native, else fp32 (docs/training.md#precision)")
    parser.add_argument('--out', default='benchmarks/results/memory_checkpointing.json')
    parser.add_argument('--worker', nargs=2, metavar=('MODE', 'BATCH'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.precision == 'auto':
        from m5mm.utils.accelerator import native_bf16
        args.precision = 'bf16' if native_bf16() else 'fp32'
    if args.worker:
        print(json.dumps(run_worker(args.config, args.worker[0], int(args.worker[1]), args.steps, args.data_root,
                                    args.precision)))
        return
    from m5mm.experiments.catalogues.demo import make_demo_dataset
    if not (Path(args.data_root) / 'manifest.jsonl').is_file():
        make_demo_dataset(args.data_root)
    print(f'{args.config}: budget {args.budget_gb} GB, {args.precision}')
    rows = [row for mode in args.modes for row in run_mode(args, mode)]
    summary = summarise(rows, args.budget_gb)
    print(format_table(rows))
    for mode, best in summary.items():
        print(f'{mode}: largest batch within {args.budget_gb} GB = {best["largest_batch"]}, '
              f'{best["mb_per_sample"] or float("nan"):.1f} MB of peak memory per sample')
    import torch
    result = dict(machine=dict(platform=platform.platform(), processor=platform.processor(),
                               threads=torch.get_num_threads(), cuda=torch.cuda.is_available(),
                               cpu_capability=torch.backends.cpu.get_cpu_capability()),
                  precision=args.precision,
                  config=args.config, budget_gb=args.budget_gb, rows=rows, summary=summary)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
