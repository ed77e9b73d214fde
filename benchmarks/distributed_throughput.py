"""Samples/s and per-process memory: 1 process vs 2 (DDP) vs DeepSpeed ZeRO-1/2/3, plus the model-state
memory each ZeRO stage needs for the paper-size SCALE model on 1-64 GPUs.

    python benchmarks/distributed_throughput.py                          # measure on this machine
    python benchmarks/distributed_throughput.py --estimate-only          # the memory table only

Every mode trains ``--config`` for ``--steps`` optimizer steps with ``--batch-size`` samples per
process (weak scaling: 2 processes see twice the samples per step) through ``accelerate launch``
and reads the run's ``summary.json`` (samples/s over all processes, peak memory per process).
Estimates follow the ZeRO paper for mixed-precision Adam: 2 bytes of weights + 2 of gradients +
12 of fp32 master weights and Adam moments per parameter, partitioned by stage.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODES = {
    'single': ['--num_processes', '1'],
    'ddp-2': ['--multi_gpu', '--num_processes', '2'],
    'zero1-2': ['--use_deepspeed', '--zero_stage', '1', '--num_processes', '2'],
    'zero2-2': ['--use_deepspeed', '--zero_stage', '2', '--num_processes', '2'],
    'zero3-2': ['--use_deepspeed', '--zero_stage', '3', '--num_processes', '2'],
}


def zero_model_state_gb(params: int, gpus: int) -> dict:
    """Bytes of model states per GPU (GiB) for plain data parallel and ZeRO stages 1-3."""
    gib = 2 ** 30
    return {'ddp': 16 * params / gib, 'zero1': (4 + 12 / gpus) * params / gib,
            'zero2': (2 + 14 / gpus) * params / gib, 'zero3': 16 * params / gpus / gib}


def paper_model_params(config: str) -> int:
    from m5mm.models.param_budget import build_model_from_config
    from m5mm.utils.config import load_config
    model = build_model_from_config(load_config(config))
    return sum(p.numel() for p in model.parameters())


def run_mode(name: str, config: str, steps: int, batch_size: int, data_root: str, precision: str) -> dict:
    with tempfile.TemporaryDirectory() as work_dir:
        cmd = [sys.executable, '-m', 'accelerate.commands.launch', *MODES[name], '--num_machines', '1',
               '--mixed_precision', precision, str(REPO / 'tools' / 'train.py'), config, '--work-dir', work_dir,
               '--max-steps', str(steps), '--cfg-options', f'data_root={data_root}',
               f'train_dataloader.batch_size={batch_size}', 'train_cfg.max_epochs=100']
        env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=str(REPO))
        if name == 'single':
            env.pop('OMP_NUM_THREADS', None)
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            raise SystemExit(f'{name} failed:\n{out.stderr[-4000:]}')
        summary = json.loads((Path(work_dir) / 'summary.json').read_text())
    return dict(mode=name, steps=summary['steps'], processes=summary['processes'],
                samples_per_s=summary['samples_per_s'], peak_gb=summary['peak_memory_gb_per_process'])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='configs/scale_5mod_small.py')
    parser.add_argument('--modes', nargs='+', default=list(MODES), choices=list(MODES))
    parser.add_argument('--steps', type=int, default=6)
    parser.add_argument('--batch-size', type=int, default=8, help='per process')
    parser.add_argument('--precision', default='bf16', choices=['no', 'bf16'])
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument('--paper-config', default='configs/scale_5mod.py')
    parser.add_argument('--estimate-only', action='store_true')
    parser.add_argument('--out', default='benchmarks/results/distributed_throughput.json')
    args = parser.parse_args(argv)
    rows = []
    if not args.estimate_only:
        print(f'{"mode":<9} {"procs":>5} {"samples/s":>10} {"peak GB per process":>22}')
        for name in args.modes:
            row = run_mode(name, args.config, args.steps, args.batch_size, args.data_root, args.precision)
            rows.append(row)
            print(f'{name:<9} {row["processes"]:>5} {row["samples_per_s"]:>10.2f} '
                  f'{", ".join(f"{m:.2f}" for m in row["peak_gb"]):>22}', flush=True)
    params = paper_model_params(args.paper_config)
    estimates = {gpus: zero_model_state_gb(params, gpus) for gpus in (1, 2, 4, 8, 16, 64)}
    print(f'\nmodel states per GPU (GiB) for {Path(args.paper_config).stem}: {params / 1e6:.1f} M parameters, '
          f'mixed-precision Adam (activations come on top)')
    print(f'{"GPUs":>5} {"DDP":>7} {"ZeRO-1":>7} {"ZeRO-2":>7} {"ZeRO-3":>7}')
    for gpus, est in estimates.items():
        print(f'{gpus:>5} {est["ddp"]:>7.2f} {est["zero1"]:>7.2f} {est["zero2"]:>7.2f} {est["zero3"]:>7.2f}')
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(dict(config=args.config, batch_size_per_process=args.batch_size,
                                              precision=args.precision, measured=rows, paper_params=params,
                                              model_state_gb=estimates), indent=2))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
