"""Packed vs padded SCALE training step on a catalogue with incomplete records.

    python benchmarks/packed_step.py                                  # paper size, 20 % and 50 % incomplete
    python benchmarks/packed_step.py --config configs/scale_5mod_tiny.py --steps 2 --batch-size 4   # smoke

Real demo samples (``--config``'s training pipeline) are made incomplete the way a catalogue is:
each record is incomplete with probability ``--incomplete``, and an incomplete record misses
each of image, table, video and audio with probability 1/2 (at least one); the collate then
zero-fills and masks the missing entries exactly as for a record without the file. Two copies of
One model runs forward + backward on the same batches with the same seeds, padded as today and
packed (``pack_tokens=True``, docs/training.md), switched per step (same weights; ABBA order per
batch, so load drifts hit both arms alike). Reported per incompleteness: samples/s of forward +
backward (the optimizer step, identical in both, and data loading are not timed) in wall time and
in this process's CPU time (``speedup_cpu``: on a shared machine with one torch thread, the CPU time
a step used is far less disturbed by other jobs than its wall time), the FLOPs each
arm executes (``torch.utils.flop_counter``, forward + backward) and the largest loss difference
between the arms on the same batches with dropout off (``max_loss_diff``: packing draws dropout masks
over its own, smaller shapes, so with dropout on the arms' losses are equal in distribution only;
that difference is reported too, as ``max_loss_diff_dropout_on``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DROPPABLE = ('image', 'table', 'video', 'audio')


def incomplete_batches(dataset, *, batch_size: int, count: int, incomplete: float, seed: int) -> list:
    """``count`` collated batches of ``dataset`` samples, each record incomplete with probability
    ``incomplete`` (it then misses each droppable modality with probability 1/2, at least one)."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset), generator=gen).tolist()
    batches = []
    for b in range(count):
        samples = []
        for i in range(batch_size):
            sample = dict(dataset[order[(b * batch_size + i) % len(order)]])
            droppable = [m for m in DROPPABLE if sample.get(m) is not None]
            if droppable and float(torch.rand((), generator=gen)) < incomplete:
                miss = torch.rand(len(droppable), generator=gen) < 0.5
                if not miss.any():
                    miss[int(torch.randint(len(droppable), (), generator=gen))] = True
                for m, gone in zip(droppable, miss.tolist()):
                    if gone:
                        sample[m] = None
            samples.append(sample)
        batches.append(dataset.collate(samples))
    return batches


def timed_step(model, batch, seed: int, autocast):
    """Forward + backward of ``model`` on ``batch`` -> (loss value, wall seconds, CPU seconds of this
    process); gradients cleared."""
    import torch
    torch.manual_seed(seed)
    tic, cpu_tic = time.perf_counter(), time.process_time()
    with autocast:
        out = model(batch)
    loss = sum(v for k, v in out.items() if k.startswith('loss'))
    loss.backward()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds, cpu_seconds = time.perf_counter() - tic, time.process_time() - cpu_tic
    model.zero_grad(set_to_none=True)
    return float(loss.detach()), seconds, cpu_seconds


def step_flops(model, batch) -> float:
    """FLOPs of one forward + backward of ``model`` on ``batch`` (no optimizer step)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        out = model(batch)
        sum(v for k, v in out.items() if k.startswith('loss')).backward()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    return float(counter.get_total_flops())


def losses_without_dropout(model, batches, seed: int, autocast) -> list:
    """The summed loss of ``model`` on every batch, dropout off (forward only, same seeds as the
    timed steps), its dropout probabilities restored after."""
    import torch
    dropouts = [(m, m.p) for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    try:
        for module, _ in dropouts:
            module.p = 0.0
        losses = []
        with torch.no_grad():
            for k, batch in enumerate(batches):
                torch.manual_seed(seed + k)
                with autocast:
                    out = model(batch)
                losses.append(float(sum(v for key, v in out.items() if key.startswith('loss'))))
        return losses
    finally:
        for module, p in dropouts:
            module.p = p


def to_device(batch, device):
    """``batch`` with its tensors on ``device``."""
    import torch
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def measure(args, incomplete: float, model, dataset, device, autocast) -> dict:
    """Padded vs packed over ``args.steps`` batches at one incompleteness (one model, packing
    switched per step: same weights, same batches, same seeds)."""
    import torch
    from m5mm.models.layers.token_packing import set_token_packing
    batches = [to_device(b, device) for b in incomplete_batches(
        dataset, batch_size=args.batch_size, count=args.steps + 1, incomplete=incomplete, seed=args.seed)]
    flops = {}
    for name, packed in (('padded', False), ('packed', True)):
        set_token_packing(model, packed)
        flops[name] = step_flops(model, batches[0])
    losses = {'padded': [], 'packed': []}
    times = {'padded': [], 'packed': []}
    cpu_times = {'padded': [], 'packed': []}
    for k, batch in enumerate(batches):
        order = ('padded', 'packed') if k % 2 else ('packed', 'padded')
        for name in order:
            set_token_packing(model, name == 'packed')
            loss, seconds, cpu_seconds = timed_step(model, batch, args.seed + k, autocast)
            losses[name].append(loss)
            if k:                         # batch 0 is the warm-up
                times[name].append(seconds)
                cpu_times[name].append(cpu_seconds)
    exact = {}
    for name in ('padded', 'packed'):
        set_token_packing(model, name == 'packed')
        exact[name] = losses_without_dropout(model, batches, args.seed, autocast)
    set_token_packing(model, False)
    present = {m: float(torch.cat([b[m]['present'].float().cpu() for b in batches]).mean()) for m in batches[0]
               if isinstance(batches[0][m], dict) and 'present' in batches[0][m]}
    rate = {name: args.batch_size * len(t) / sum(t) for name, t in times.items()}
    return dict(incomplete=incomplete, present=present, steps=args.steps, batch_size=args.batch_size,
                samples_per_s=rate, speedup=rate['packed'] / rate['padded'], step_s=times,
                cpu_step_s=cpu_times, speedup_cpu=sum(cpu_times['padded']) / sum(cpu_times['packed']),
                gflop_per_step={n: f / 1e9 for n, f in flops.items()},
                losses=losses, losses_dropout_off=exact,
                max_loss_diff=max(abs(a - b) for a, b in zip(exact['padded'], exact['packed'])),
                max_loss_diff_dropout_on=max(abs(a - b) for a, b in zip(losses['padded'], losses['packed'])))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='configs/scale_5mod.py')
    parser.add_argument('--incomplete', nargs='+', type=float, default=[0.2, 0.5])
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--steps', type=int, default=3, help='timed steps per arm and incompleteness')
    parser.add_argument('--precision', default='fp32', choices=['fp32', 'bf16'])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--data-root', default='data/demo', help='demo catalogue (generated if absent)')
    parser.add_argument('--out', default='benchmarks/results/packed_step.json')
    args = parser.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    import torch

    from m5mm.engine.builder import build_model
    from m5mm.datasets.loaders import build_dataset
    from m5mm.experiments.catalogues.demo import make_demo_dataset
    from m5mm.utils.config import load_config
    if not (Path(args.data_root) / 'manifest.jsonl').is_file():
        make_demo_dataset(args.data_root)
    cfg = load_config(args.config, {'data_root': args.data_root})
    dataset = build_dataset(cfg.train_dataloader.dataset)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    torch.manual_seed(args.seed)
    model = build_model(cfg.model, dataset.meta).train().to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == 'bf16')
    rows = [measure(args, rate, model, dataset, device, autocast) for rate in args.incomplete]
    print(format_table(rows, args))
    result = dict(command=' '.join(['python benchmarks/packed_step.py'] + (argv or sys.argv[1:])),
                  config=args.config, precision=args.precision, seed=args.seed,
                  machine=dict(platform=platform.platform(), threads=torch.get_num_threads(),
                               device=str(device), load_avg=os.getloadavg()), rows=rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f'wrote {args.out}')
    return result


def format_table(rows: list, args) -> str:
    head = (f'{"incomplete":>10} {"padded s/s":>11} {"packed s/s":>11} {"speedup":>8} {"padded GFLOP":>13} '
            f'{"packed GFLOP":>13} {"max |dloss|":>12} {"(dropout on)":>13} {"CPU-time speedup":>17}')
    lines = [f'{Path(args.config).stem}, batch {args.batch_size}, {args.precision}', head, '-' * len(head)]
    for r in rows:
        lines.append(f'{r["incomplete"]:>10.0%} {r["samples_per_s"]["padded"]:>11.2f} '
                     f'{r["samples_per_s"]["packed"]:>11.2f} {r["speedup"]:>7.2f}x '
                     f'{r["gflop_per_step"]["padded"]:>13.1f} {r["gflop_per_step"]["packed"]:>13.1f} '
                     f'{r["max_loss_diff"]:>12.2e} {r["max_loss_diff_dropout_on"]:>13.2e} '
                     f'{r["speedup_cpu"]:>16.2f}x')
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
