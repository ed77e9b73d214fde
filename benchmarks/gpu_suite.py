"""The issue-25 measurements on a GPU, in one prepared run: bf16 MFU of the paper-size SCALE step,
packed vs padded at 20 % and 50 % incomplete records, m5mm vs open_clip, eager vs compile.

    python benchmarks/gpu_suite.py                    # on the GPU machine (about 10 minutes on one H100)
    python benchmarks/gpu_suite.py --tiny             # CPU smoke test: tiny configs, 2 steps

Writes ``benchmarks/results/gpu_suite/*.json`` (one file per part, the others' own formats) and a
summary ``gpu_suite.json``; prints each part's table. A failing part is recorded with its error and
the others still run. MFU = FLOPs of the step (``torch.utils.flop_counter``, forward + backward) /
step time / the peak: ``--peak-tflops`` (the card's dense bf16 peak, 989 for an H100 SXM) and the
measured peak of a bf16 8192^2 matmul on the same device.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'benchmarks'))


def mfu(config: str, *, batch_size: int, steps: int, peak_tflops: float, data_root: str, size: int) -> dict:
    """bf16 samples/s, TFLOP/s and MFU of ``config``'s training step (real demo batches)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from m5mm.engine.builder import build_model
    from m5mm.datasets.loaders import build_dataloader
    from m5mm.utils.config import load_config
    from train_throughput import matmul_peak
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    cfg = load_config(config, {'data_root': data_root, 'train_dataloader.batch_size': batch_size,
                               'train_dataloader.num_workers': 0})
    loader = build_dataloader(cfg.train_dataloader, seed=0, shuffle=True, drop_last=True)
    batches = []
    for batch, _ in zip(loader, range(steps + 1)):
        batches.append({k: {n: t.to(device) if isinstance(t, torch.Tensor) else t for n, t in v.items()}
                        if isinstance(v, dict) else v for k, v in batch.items()})
    torch.manual_seed(0)
    model = build_model(cfg.model, loader.dataset.meta).train().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(batch):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = model(batch)
        sum(v for k, v in out.items() if k.startswith('loss')).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with FlopCounterMode(display=False) as counter:
        step(batches[0])
    flops = counter.get_total_flops()
    if device.type == 'cuda':
        torch.cuda.synchronize()
    tic = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    if device.type == 'cuda':
        torch.cuda.synchronize()
    step_s = (time.perf_counter() - tic) / max(1, len(batches) - 1)
    measured = matmul_peak('bf16', size=size)
    achieved = flops / step_s
    return dict(config=config, batch_size=batch_size, steps=len(batches) - 1, device=str(device),
                gpu=torch.cuda.get_device_name() if device.type == 'cuda' else None,
                step_s=step_s, samples_per_s=batch_size / step_s, tflop_per_step=flops / 1e12,
                achieved_tflops=achieved / 1e12, measured_peak_tflops=measured / 1e12,
                mfu_nominal=achieved / (peak_tflops * 1e12), mfu_measured_peak=achieved / measured)


def run_part(name: str, fn, summary: dict) -> None:
    """Run one part, recording its result or its error."""
    tic = time.perf_counter()
    try:
        summary[name] = dict(ok=True, result=fn())
    except Exception as exc:  # a part's failure must not lose the others' figures
        summary[name] = dict(ok=False, error=f'{type(exc).__name__}: {exc}', trace=traceback.format_exc()[-3000:])
        print(f'{name} failed: {exc}', flush=True)
    summary[name]['seconds'] = time.perf_counter() - tic


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--tiny', action='store_true', help='tiny configs and 2 steps (a CPU smoke test)')
    parser.add_argument('--peak-tflops', type=float, default=989.0, help="the card's dense bf16 peak")
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument('--out', default='benchmarks/results/gpu_suite')
    parser.add_argument('--parts', nargs='+', default=['mfu', 'packed', 'vs_open_clip', 'compile'])
    args = parser.parse_args(argv)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    from m5mm.experiments.catalogues.demo import make_demo_dataset
    if not (Path(args.data_root) / 'manifest.jsonl').is_file():
        make_demo_dataset(args.data_root)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paper = 'configs/scale_5mod_tiny.py' if args.tiny else 'configs/scale_5mod.py'
    small = 'configs/scale_5mod_tiny.py' if args.tiny else 'configs/scale_5mod_small.py'
    steps, batch = (2, 4) if args.tiny else (10, 64)
    summary: dict = dict(tiny=args.tiny)
    if 'mfu' in args.parts:
        run_part('mfu', lambda: mfu(paper, batch_size=batch, steps=steps, peak_tflops=args.peak_tflops,
                                    data_root=args.data_root, size=256 if args.tiny else 8192), summary)
    if 'packed' in args.parts:
        import packed_step
        run_part('packed', lambda: packed_step.main(
            ['--config', paper, '--steps', str(steps), '--batch-size', str(batch), '--precision', 'bf16',
             '--data-root', args.data_root, '--out', str(out / 'packed_step.json')]), summary)
    if 'vs_open_clip' in args.parts:
        def vs_open_clip():
            cmd = [sys.executable, str(REPO / 'benchmarks' / 'vs_open_clip.py'), '--precision', 'bf16',
                   '--batch-sizes', *(['8'] if args.tiny else ['128', '512']), '--steps', str(steps),
                   '--warmup', '1' if args.tiny else '3', '--out', str(out / 'vs_open_clip.json')]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            print(done.stdout[-4000:], flush=True)
            if done.returncode:
                raise RuntimeError(done.stderr[-2000:])
            return json.loads((out / 'vs_open_clip.json').read_text())['rows']
        run_part('vs_open_clip', vs_open_clip, summary)
    if 'compile' in args.parts:
        import compile_bounded
        run_part('compile', lambda: compile_bounded.main(
            ['--config', small, '--steps', str(steps if args.tiny else 200), '--batch-size', str(batch),
             '--arms', 'eager', 'compile', '--data-root', args.data_root,
             '--out', str(out / 'compile_bounded.json')])['rows'], summary)
    if summary.get('mfu', {}).get('ok'):
        r = summary['mfu']['result']
        print(f'\nMFU {Path(r["config"]).stem} bf16 batch {r["batch_size"]} on {r["gpu"] or r["device"]}: '
              f'{r["samples_per_s"]:.1f} samples/s, {r["achieved_tflops"]:.1f} TFLOP/s = '
              f'{100 * r["mfu_nominal"]:.1f}% of {args.peak_tflops:.0f} (nominal), '
              f'{100 * r["mfu_measured_peak"]:.1f}% of the measured matmul peak')
    (out / 'gpu_suite.json').write_text(json.dumps(summary, indent=2, default=str))
    print(f'wrote {out / "gpu_suite.json"}')
    return summary


if __name__ == '__main__':
    main()
