"""Training throughput, peak memory and matmul-peak utilisation of SCALE configs, fp32 vs bf16.

    python benchmarks/train_throughput.py                       # small + paper-size SCALE on the demo data
    python benchmarks/train_throughput.py --configs configs/scale_5mod.py --precisions bf16 --steps 3

Each (config, precision) runs in its own process (so peak memory is its own): real demo batches
are loaded first, then one warm-up step and ``--steps`` timed optimizer steps (forward, backward,
AdamW) run; data loading is not timed. FLOPs per step are counted by ``torch.utils.flop_counter``
(matmuls and convolutions, forward + backward); utilisation = achieved FLOP/s / the measured peak
of a 2048 x 2048 matmul in the same precision on this machine. Prints a table, writes JSON.
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


def matmul_peak(precision: str, size: int = 2048, repeats: int = 10) -> float:
    """Measured FLOP/s of a square matmul in ``precision`` on the CPU (or GPU when present)."""
    import torch
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    dtype = torch.bfloat16 if precision == 'bf16' else torch.float32
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    best = float('inf')
    for _ in range(repeats):
        if device == 'cuda':
            torch.cuda.synchronize()
        tic = time.perf_counter()
        a @ b
        if device == 'cuda':
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - tic)
    return 2 * size ** 3 / best


def run_worker(config: str, precision: str, batch_size: int, steps: int, data_root: str) -> dict:
    """Time ``steps`` training steps of ``config``; returns the measurements."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from m5mm.engine.builder import build_model
    from m5mm.datasets.loaders import build_dataloader
    from m5mm.utils.config import load_config
    cfg = load_config(config, {'data_root': data_root, 'train_dataloader.batch_size': batch_size,
                               'train_dataloader.num_workers': 0})
    loader = build_dataloader(cfg.train_dataloader, seed=0, shuffle=True, drop_last=True)
    batches = [batch for batch, _ in zip(loader, range(steps + 1))]
    model = build_model(cfg.model, loader.dataset.meta).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    autocast = torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision == 'bf16')

    def step(batch):
        with autocast:
            outputs = model(batch)
        loss = sum(v for k, v in outputs.items() if k.startswith('loss'))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with FlopCounterMode(display=False) as counter:
        step(batches[0])  # warm-up, counted
    flops = counter.get_total_flops()
    tic = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    elapsed = time.perf_counter() - tic
    samples = sum(len(b['meta']['ids']) for b in batches[1:])
    params = sum(p.numel() for p in model.parameters())
    return dict(config=config, precision=precision, batch_size=batch_size, steps=len(batches) - 1,
                params_m=params / 1e6, samples_per_s=samples / elapsed, step_s=elapsed / (len(batches) - 1),
                gflop_per_step=flops / 1e9, achieved_gflops=flops / (elapsed / (len(batches) - 1)) / 1e9,
                peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20)


def format_table(rows: list) -> str:
    head = (f'{"config":<34} {"prec":<5} {"params":>8} {"batch":>5} {"samples/s":>10} {"s/step":>7} '
            f'{"GFLOP/step":>11} {"GFLOP/s":>8} {"% peak":>7} {"peak RSS":>9}')
    lines = [head, '-' * len(head)]
    for r in rows:
        lines.append(f'{Path(r["config"]).stem:<34} {r["precision"]:<5} {r["params_m"]:>7.1f}M {r["batch_size"]:>5} '
                     f'{r["samples_per_s"]:>10.2f} {r["step_s"]:>7.2f} {r["gflop_per_step"]:>11.1f} '
                     f'{r["achieved_gflops"]:>8.1f} {100 * r["peak_utilisation"]:>6.1f}% {r["peak_rss_gb"]:>7.2f}GB')
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--configs', nargs='+', default=['configs/scale_5mod_small.py', 'configs/scale_5mod.py'])
    parser.add_argument('--precisions', nargs='+', default=['fp32', 'bf16'], choices=['fp32', 'bf16'])
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--steps', type=int, default=4)
    parser.add_argument('--data-root', default='data/demo', help='demo catalogue (generated if absent)')
    parser.add_argument('--out', default='benchmarks/results/train_throughput.json')
    parser.add_argument('--worker', nargs=2, metavar=('CONFIG', 'PRECISION'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args.worker[0], args.worker[1], args.batch_size, args.steps, args.data_root)))
        return
    from m5mm.experiments.catalogues.demo import make_demo_dataset
    if not (Path(args.data_root) / 'manifest.jsonl').is_file():
        make_demo_dataset(args.data_root)
    peaks = {p: matmul_peak(p) for p in args.precisions}
    rows = []
    for config in args.configs:
        for precision in args.precisions:
            cmd = [sys.executable, __file__, '--worker', config, precision, '--batch-size', str(args.batch_size),
                   '--steps', str(args.steps), '--data-root', args.data_root]
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                                 env=dict(os.environ, HF_HUB_OFFLINE='1'))
            if out.returncode != 0:
                raise SystemExit(f'{config} {precision} failed:\n{out.stderr[-3000:]}')
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row['peak_utilisation'] = row['achieved_gflops'] * 1e9 / peaks[precision]
            rows.append(row)
            print(format_table([row]).splitlines()[-1], flush=True)
    import torch
    print('\nmatmul peak (2048^2): ' + ', '.join(f'{p} {v / 1e9:.0f} GFLOP/s' for p, v in peaks.items()))
    print(format_table(rows))
    result = dict(machine=dict(platform=platform.platform(), processor=platform.processor(),
                               threads=torch.get_num_threads(), cuda=torch.cuda.is_available()),
                  matmul_peak_gflops={p: v / 1e9 for p, v in peaks.items()}, rows=rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
