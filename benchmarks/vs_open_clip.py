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
work), ``ctx36`` its fixed 36-token context (m5mm's tokenizer ``max_length``). m5mm's ``bucket``
mode runs what ``train_dataloader.length_buckets`` + ``pad_to_multiple`` make of the same title lengths: a
pool of 8 batches sorted by length, each padded to its own longest title (multiple of 4); its
GFLOP is the mean per step over that cycle.
By default every cell of a batch size lives in ONE process and the cells' steps are interleaved
ABBA (round r runs the cells in order, round r+1 in reverse), so load drifts on a shared machine
hit them alike and the ratios are within one run; ``--threads`` (default 1) torch threads; the load
average before and after is recorded. ``--warmup`` steps per cell (whole cycles of the bucket cell,
so each of its shapes is warm), then ``--steps`` timed rounds, rounded up to whole bucket cycles;
samples/s from the median step (the bucket cell: the median of each batch of its cycle, averaged
over the cycle). ``ctx77`` is open_clip's own default context (every ``open_clip`` model config and
tokenizer). FLOPs per step (forward + backward) come from ``torch.utils.flop_counter`` on one step
(one bucket cycle) of each cell: the work each side really executes. ``--isolated``: each cell in
its own process instead (peak memory per cell: the process's peak RSS on CPU, and its increase over
the RSS after setup, or ``torch.cuda.max_memory_allocated`` on a GPU). ``--profile`` writes the top
operators (torch.profiler) of m5mm's bucket step and open_clip's ``equal`` step next to the JSON.
Prints a table, writes JSON.
"""
from __future__ import annotations

import argparse
import itertools
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
CELLS = (('m5mm', 'm5mm'), ('m5mm', 'bucket'), ('open_clip', 'equal'), ('open_clip', 'ctx36'), ('open_clip', 'ctx77'))
#: open_clip's fixed context of each mode (``equal``: m5mm's padded title length)
CONTEXTS = dict(ctx36=CONTEXT, ctx77=77)
#: m5mm's ``bucket`` mode: a pool of this many batches sorted by title length (``length_buckets``)
#: and each padded to its own longest title rounded up to a multiple of PAD_MULTIPLE (``pad_to_multiple``)
POOL_BATCHES, PAD_MULTIPLE = 8, 4


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


def bucketed_titles(batch_size: int, args):
    """``POOL_BATCHES`` batches of (pixels, ids, mask): one pool of random titles sorted by length
    (:mod:`m5mm.datasets.length_buckets`), each batch cut to its longest title rounded up to
    ``PAD_MULTIPLE`` (the titles of :func:`make_data`, so the same length distribution)."""
    pixels, ids, mask = make_data(batch_size * POOL_BATCHES, args.title_min, args.title_len)
    order = mask.sum(1).argsort(stable=True)
    out = []
    for k in range(POOL_BATCHES):
        rows = order[k * batch_size:(k + 1) * batch_size]
        width = min(-(-int(mask[rows].sum(1).max()) // PAD_MULTIPLE) * PAD_MULTIPLE, ids.shape[1])
        out.append((pixels[rows], ids[rows, :width], mask[rows, :width]))
    return out


def m5mm_step_fn(batch_size: int, args, device, bucket: bool = False):
    """m5mm's model, optimizer and one-step closure (``bucket``: cycling through :func:`bucketed_titles`;
    the closure's ``cycle`` is their number)."""
    import torch

    from m5mm.engine.optimizers import build_optimizer
    from m5mm.models.param_budget import build_model_from_config
    from m5mm.utils.config import load_config
    cfg = load_config(str(CONFIG), {'model.encoders.text.dropout': 0.0})   # open_clip's towers have none
    torch.manual_seed(0)
    model = build_model_from_config(cfg).to(device).train()
    optimizer = build_optimizer(model, dict(optimizer=dict(type='AdamW', **ADAMW)))
    data = bucketed_titles(batch_size, args) if bucket else \
        [make_data(batch_size, args.title_min, args.title_len)]
    present = torch.ones(batch_size, dtype=torch.bool)
    batches = []
    for pixels, ids, mask in data:
        batch = {'image': {'pixels': pixels, 'present': present},
                 'text': {'input_ids': ids, 'attention_mask': mask, 'present': present},
                 'meta': {'ids': [str(i) for i in range(batch_size)]}}
        batches.append({k: {n: t.to(device) if isinstance(t, torch.Tensor) else t for n, t in v.items()}
                        for k, v in batch.items()})
    turn = itertools.count()

    def step():
        batch = batches[next(turn) % len(batches)]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == 'bf16'):
            out = model(batch)
            loss = sum(v for k, v in out.items() if k.startswith('loss'))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    step.cycle = len(batches)
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


def cell_context(mode: str, args) -> int:
    """The title length a cell runs at (the bucket cell: at most this)."""
    return CONTEXTS.get(mode, args.title_len)


def build_cell(model_name: str, mode: str, batch_size: int, args, device):
    """(model, step closure) of one cell."""
    if model_name == 'm5mm':
        return m5mm_step_fn(batch_size, args, device, bucket=mode == 'bucket')
    return open_clip_step_fn(batch_size, cell_context(mode, args), args, device)


def count_flops(step, cycle: int) -> float:
    """FLOPs of one step (the mean over ``cycle`` steps) as :mod:`torch.utils.flop_counter` counts them."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        for _ in range(cycle):
            step()
    return counter.get_total_flops() / cycle


def cycle_step_s(times: list, cycle: int) -> float:
    """The typical step of a cell: the median over the rounds of each position in its batch cycle
    (so one slow step under load weighs as in a plain median), averaged over the cycle."""
    return statistics.mean(statistics.median(times[k::cycle]) for k in range(cycle))


def run_interleaved(batch_size: int, args) -> list:
    """Every cell of ``batch_size`` in this process, their timed steps interleaved ABBA; one row per cell."""
    import torch
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    cells = [(name, mode, *build_cell(name, mode, batch_size, args, device)) for name, mode in CELLS]
    for *_, step in cells:   # whole bucket cycles: every shape of a cell is warm before timing
        for _ in range(args.warmup * getattr(step, 'cycle', 1)):
            step()
    times = {k: [] for k in range(len(cells))}
    for turn in range(-(-args.steps // POOL_BATCHES) * POOL_BATCHES):   # whole bucket cycles
        order = range(len(cells)) if turn % 2 == 0 else reversed(range(len(cells)))
        for k in order:
            sync()
            tic = time.perf_counter()
            cells[k][3]()
            sync()
            times[k].append(time.perf_counter() - tic)
    rows = []
    for k, (name, mode, model, step) in enumerate(cells):
        cycle = getattr(step, 'cycle', 1)
        flops = count_flops(step, cycle)
        step_s = cycle_step_s(times[k], cycle)
        rows.append(dict(model=name, mode=mode, batch_size=batch_size, context=cell_context(mode, args),
                         params_m=sum(p.numel() for p in model.parameters()) / 1e6, step_s_median=step_s,
                         step_s=times[k], samples_per_s=batch_size / step_s, gflop_per_step=flops / 1e9,
                         tflop_per_s=flops / step_s / 1e12))
    return rows


def run_worker(model_name: str, mode: str, batch_size: int, args) -> dict:
    """Time ``args.steps`` optimizer steps of one cell; returns its measurements."""
    import torch
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    context = cell_context(mode, args)
    model, step = build_cell(model_name, mode, batch_size, args, device)
    cycle = getattr(step, 'cycle', 1)
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    rss_setup = _rss_mib()
    for _ in range(args.warmup * cycle):
        step()
    times = []
    for _ in range(-(-args.steps // cycle) * cycle):
        sync()
        tic = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - tic)
    median = cycle_step_s(times, cycle)
    flops = count_flops(step, cycle)
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == 'cuda' else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(model=model_name, mode=mode, batch_size=batch_size, context=context,
                params_m=sum(p.numel() for p in model.parameters()) / 1e6, step_s_median=median,
                step_s=times, samples_per_s=batch_size / median, gflop_per_step=flops / 1e9,
                tflop_per_s=flops / median / 1e12, peak_mib=peak, peak_over_setup_mib=peak - rss_setup
                if device.type == 'cpu' else peak)


def profile_cells(batch_size: int, args, out: Path) -> None:
    """torch.profiler of m5mm's ``bucket`` step and open_clip's ``equal`` step: the top operators by
    self CPU time of each (one bucket cycle; as many open_clip steps), written to ``out``."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    text = []
    for name, mode in (('m5mm', 'bucket'), ('open_clip', 'equal')):
        _, step = build_cell(name, mode, batch_size, args, torch.device('cpu'))
        for _ in range(args.warmup * getattr(step, 'cycle', 1)):
            step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(POOL_BATCHES):
                step()
        text.append(f'== {name} {mode}, batch {batch_size}, {POOL_BATCHES} steps ==\n'
                    + prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=25))
    out.write_text('\n\n'.join(text))
    print(out.read_text())


def _table(rows) -> str:
    head = f'{"model":>10} {"mode":>6} {"batch":>5} {"ctx":>4} {"step s":>8} {"samples/s":>9} ' \
           f'{"GFLOP":>7} {"TFLOP/s":>7} {"peak MiB":>8} {"bucket x":>8}'
    lines = [head, '-' * len(head)]
    for r in rows:
        ref = next((x for x in rows if x['mode'] == 'bucket' and x['batch_size'] == r['batch_size']), None)
        ratio = ref['samples_per_s'] / r['samples_per_s'] if ref else float('nan')
        lines.append(f'{r["model"]:>10} {r["mode"]:>6} {r["batch_size"]:>5} {r["context"]:>4} '
                     f'{r["step_s_median"]:>8.3f} {r["samples_per_s"]:>9.1f} {r["gflop_per_step"]:>7.1f} '
                     f'{r["tflop_per_s"]:>7.3f} {r.get("peak_mib", float("nan")):>8.0f} {ratio:>8.2f}')
    return '\n'.join(lines)


def isolated_rows(batch_size: int, args) -> list:
    """Each cell in its own process (``--repeats`` times, the median run): peak memory per cell."""
    common = ['--steps', str(args.steps), '--warmup', str(args.warmup), '--title-len', str(args.title_len),
              '--title-min', str(args.title_min), '--precision', args.precision, '--threads', str(args.threads)]
    rows = []
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
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[32, 128])
    parser.add_argument('--steps', type=int, default=16)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1, help='torch threads')
    parser.add_argument('--isolated', action='store_true', help='each cell in its own process (peak memory)')
    parser.add_argument('--repeats', type=int, default=1, help='--isolated: processes per cell (the median)')
    parser.add_argument('--title-len', type=int, default=24, help='the padded title length m5mm runs at')
    parser.add_argument('--title-min', type=int, default=6)
    parser.add_argument('--precision', choices=('bf16', 'fp32'), default='bf16')
    parser.add_argument('--profile', action='store_true', help='also profile both steps (first batch size)')
    parser.add_argument('--out', default=str(REPO / 'benchmarks' / 'results' / 'vs_open_clip.json'))
    parser.add_argument('--worker', nargs=3, metavar=('MODEL', 'MODE', 'BATCH'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(run_worker(args.worker[0], args.worker[1], int(args.worker[2]), args)))
        return
    load_before = os.getloadavg()
    rows = []
    for batch_size in args.batch_sizes:
        rows += isolated_rows(batch_size, args) if args.isolated else run_interleaved(batch_size, args)
        print(_table([r for r in rows if r['batch_size'] == batch_size]), flush=True)
    load_after = os.getloadavg()
    print(_table(rows))
    print(f'load average before {load_before}, after {load_after}')
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    from m5mm.utils.accelerator import native_bf16
    out.write_text(json.dumps(dict(rows=rows, precision=args.precision, title_len=args.title_len,
                                   title_min=args.title_min, interleaved=not args.isolated,
                                   load_before=load_before, load_after=load_after,
                                   torch=torch.__version__, machine=platform.machine(), cpus=os.cpu_count(),
                                   cpu_capability=torch.backends.cpu.get_cpu_capability(),
                                   native_bf16=native_bf16(), threads=torch.get_num_threads()), indent=2))
    if args.profile:
        profile_cells(args.batch_sizes[0], args, out.with_name(out.stem + '_profile.txt'))


if __name__ == '__main__':
    main()
