"""m5mm's CLIP (``configs/fusion/clip_2mod.py``) against ``open_clip.CLIP`` with the same towers.

    python benchmarks/vs_open_clip.py                          # batch 32 and 128, bf16 autocast
    python benchmarks/vs_open_clip.py --batch-sizes 32 --steps 5 --profile

Both models: ViT on 64 px images with 16 px patches (width 256, 3 layers, 4 heads), a 3-layer text
transformer of width 256 and 4 heads over a 4000-token vocabulary, 256-d embeddings, a learnable
temperature, the symmetric InfoNCE loss, no dropout (m5mm's BERT text tower defaults to 0.1: set to 0
here), AdamW (lr 1e-4, betas (0.9, 0.98), eps 1e-6, weight decay 0.01) and bf16 autocast (``--precision
fp32`` on CPUs without native bf16, see docs/training.md#precision). One optimizer step = forward, loss,
backward, AdamW step; data loading is excluded (one synthetic batch, made before timing). Titles have
random lengths in ``[--title-min, --title-len]`` tokens and m5mm pads them to the longest
(``--title-len``). Modes of open_clip: ``equal`` gets that same padded length as its context (equal
work), ``ctx36`` its fixed 36-token context (m5mm's tokenizer ``max_length``). Each (model, mode, batch)
runs in its own process (so peak memory is its own): ``--warmup`` steps, then ``--steps`` timed steps;
the median step time gives samples/s. FLOPs per step (forward + backward matmuls) come from
``torch.utils.flop_counter``; peak memory is the process's peak RSS on CPU (and its increase over the
RSS after setup) or ``torch.cuda.max_memory_allocated`` on a GPU. ``--profile`` writes the top operators
of m5mm's step (torch.profiler) next to the JSON. Prints a table, writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CONFIG = REPO / 'configs' / 'fusion' / 'clip_2mod.py'
VOCAB, WIDTH, LAYERS, HEADS, EMBED, IMAGE, PATCH, CONTEXT = 4000, 256, 3, 4, 256, 64, 16, 36
ADAMW = dict(lr=1e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)
CELLS = (('m5mm', 'm5mm'), ('open_clip', 'equal'), ('open_clip', 'ctx36'))


def make_data(batch_size: int, title_min: int, title_len: int, seed: int = 0):
    """(pixels (B, 3, 64, 64), ids (B, L) with [CLS] .. [SEP] and 0-padding, lengths (B,))."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    pixels = torch.randn(batch_size, 3, IMAGE, IMAGE, generator=gen)
    lengths = torch.randint(title_min, title_len + 1, (batch_size,), generator=gen)
    lengths[0] = title_len
    ids = torch.randint(5, VOCAB, (batch_size, title_len), generator=gen)
    ids[:, 0] = 2
    ids[torch.arange(batch_size), lengths - 1] = 3
    mask = torch.arange(title_len)[None, :] < lengths[:, None]
    return pixels, ids.masked_fill(~mask, 0), mask


def m5mm_step_fn(batch_size: int, args, device):
    """m5mm's model, optimizer and one-step closure."""
    import torch

    from m5mm.engine.optimizers import build_optimizer
    from m5mm.models.param_budget import build_model_from_config
    from m5mm.utils.config import load_config
    cfg = load_config(str(CONFIG), {'model.encoders.text.dropout': 0.0})   # open_clip's towers have none
    torch.manual_seed(0)
    model = build_model_from_config(cfg).to(device).train()
    optimizer = build_optimizer(model, dict(optimizer=dict(type='AdamW', **ADAMW)))
    pixels, ids, mask = make_data(batch_size, args.title_min, args.title_len)
    present = torch.ones(batch_size, dtype=torch.bool)
    batch = {'image': {'pixels': pixels, 'present': present},
             'text': {'input_ids': ids, 'attention_mask': mask, 'present': present},
             'meta': {'ids': [str(i) for i in range(batch_size)]}}
    batch = {k: {n: t.to(device) if isinstance(t, torch.Tensor) else t for n, t in v.items()}
             for k, v in batch.items()}

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == 'bf16'):
            out = model(batch)
            loss = sum(v for k, v in out.items() if k.startswith('loss'))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return model, step


def open_clip_step_fn(batch_size: int, context: int, args, device):
    """open_clip's CLIP with the same towers, its ClipLoss, torch AdamW, one-step closure."""
    import open_clip
    import torch
    torch.manual_seed(0)
    model = open_clip.CLIP(embed_dim=EMBED, vision_cfg=open_clip.CLIPVisionCfg(
        layers=LAYERS, width=WIDTH, head_width=WIDTH // HEADS, image_size=IMAGE, patch_size=PATCH),
        text_cfg=open_clip.CLIPTextCfg(context_length=context, vocab_size=VOCAB, width=WIDTH, heads=HEADS,
                                       layers=LAYERS)).to(device).train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and 'embedding' not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and 'embedding' not in n)]
    optimizer = torch.optim.AdamW([dict(params=decay), dict(params=rest, weight_decay=0.0)], **ADAMW)
    loss_fn = open_clip.ClipLoss()
    pixels, ids, _ = make_data(batch_size, args.title_min, args.title_len)
    text = torch.zeros(batch_size, context, dtype=torch.long)
    text[:, :min(context, ids.shape[1])] = ids[:, :context]
    pixels, text = pixels.to(device), text.to(device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == 'bf16'):
            image_features, text_features, logit_scale = model(pixels, text)
            loss = loss_fn(image_features, text_features, logit_scale)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return model, step


def _rss_mib() -> float:
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmRSS')) / 1024


def run_worker(model_name: str, mode: str, batch_size: int, args) -> dict:
    """Time ``args.steps`` optimizer steps of one cell; returns its measurements."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    context = args.title_len if mode in ('m5mm', 'equal') else CONTEXT
    model, step = m5mm_step_fn(batch_size, args, device) if model_name == 'm5mm' else \
        open_clip_step_fn(batch_size, context, args, device)
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    rss_setup = _rss_mib()
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        sync()
        tic = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - tic)
    with FlopCounterMode(display=False) as counter:
        step()
    median = statistics.median(times)
    flops = counter.get_total_flops()
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == 'cuda' else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(model=model_name, mode=mode, batch_size=batch_size, context=context,
                params_m=sum(p.numel() for p in model.parameters()) / 1e6, step_s_median=median,
                step_s=times, samples_per_s=batch_size / median, gflop_per_step=flops / 1e9,
                tflop_per_s=flops / median / 1e12, peak_mib=peak, peak_over_setup_mib=peak - rss_setup
                if device.type == 'cpu' else peak)


def profile_m5mm(batch_size: int, args, out: Path) -> None:
    """torch.profiler of m5mm's step: the top operators by self CPU time, written to ``out``."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    _, step = m5mm_step_fn(batch_size, args, torch.device('cpu'))
    for _ in range(args.warmup):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    out.write_text(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=30))
    print(out.read_text())


def _table(rows) -> str:
    head = f'{"model":>10} {"mode":>6} {"batch":>5} {"ctx":>4} {"step s":>8} {"samples/s":>9} ' \
           f'{"GFLOP":>7} {"TFLOP/s":>7} {"peak MiB":>8} {"+setup":>7} {"m5mm x":>6}'
    lines = [head, '-' * len(head)]
    for r in rows:
        ref = next((x for x in rows if x['model'] == 'm5mm' and x['batch_size'] == r['batch_size']), None)
        ratio = ref['samples_per_s'] / r['samples_per_s'] if ref else float('nan')
        lines.append(f'{r["model"]:>10} {r["mode"]:>6} {r["batch_size"]:>5} {r["context"]:>4} '
                     f'{r["step_s_median"]:>8.3f} {r["samples_per_s"]:>9.1f} {r["gflop_per_step"]:>7.1f} '
                     f'{r["tflop_per_s"]:>7.3f} {r["peak_mib"]:>8.0f} {r["peak_over_setup_mib"]:>7.0f} '
                     f'{ratio:>6.2f}')
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[32, 128])
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=1, help='processes per cell (the median is reported)')
    parser.add_argument('--title-len', type=int, default=24, help='the padded title length m5mm runs at')
    parser.add_argument('--title-min', type=int, default=6)
    parser.add_argument('--precision', choices=('bf16', 'fp32'), default='bf16')
    parser.add_argument('--profile', action='store_true', help="also profile m5mm's step (first batch size)")
    parser.add_argument('--out', default=str(REPO / 'benchmarks' / 'results' / 'vs_open_clip.json'))
    parser.add_argument('--worker', nargs=3, metavar=('MODEL', 'MODE', 'BATCH'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker[0], args.worker[1], int(args.worker[2]), args)))
        return
    common = ['--steps', str(args.steps), '--warmup', str(args.warmup), '--title-len', str(args.title_len),
              '--title-min', str(args.title_min), '--precision', args.precision]
    rows = []
    for batch_size in args.batch_sizes:
        for model_name, mode in CELLS:
            runs = []
            for _ in range(args.repeats):
                result = subprocess.run([sys.executable, __file__, '--worker', model_name, mode, str(batch_size),
                                         *common], capture_output=True, text=True, env=dict(os.environ))
                if result.returncode:
                    raise SystemExit(f'{model_name}/{mode}/{batch_size} failed:\n{result.stderr[-3000:]}')
                runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
            row = sorted(runs, key=lambda r: r['step_s_median'])[len(runs) // 2]
            row['repeat_step_s_medians'] = [r['step_s_median'] for r in runs]
            rows.append(row)
            print(f'{model_name}/{mode}/{batch_size}: {row["samples_per_s"]:.1f} samples/s', flush=True)
    print(_table(rows))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    import torch

    from m5mm.utils.accelerator import native_bf16
    out.write_text(json.dumps(dict(rows=rows, precision=args.precision, title_len=args.title_len,
                                   torch=torch.__version__, machine=platform.machine(), cpus=os.cpu_count(),
                                   cpu_capability=torch.backends.cpu.get_cpu_capability(),
                                   native_bf16=native_bf16(),
                                   threads=torch.get_num_threads(), note='shared machine' if
                                   os.environ.get('M5MM_BENCH_SHARED') else ''), indent=2))
    if args.profile:
        profile_m5mm(args.batch_sizes[0], args, out.with_name(out.stem + '_profile.txt'))


if __name__ == '__main__':
    main()
