"""Frozen pretrained towers computed live vs read from a feature cache, and memory per GPU by tuning mode.

    python benchmarks/pretrained_cache_throughput.py                   # tiny towers on the demo data
    python benchmarks/pretrained_cache_throughput.py --estimate-only   # the memory table only

Measured: ``configs/scale_5mod_pretrained_tiny.py`` (frozen image, video and audio towers; LoRA text) and its
cached twin ``configs/scale_5mod_pretrained_tiny_cached.py``, each in its own process: data-loader samples/s
(decoding + preprocessing, or reading the cached .npy files; one process, no workers) and training-step
samples/s (forward, backward, AdamW on real batches loaded beforehand), plus the one-off cost of caching.

Computed (no GPU here): memory per GPU of each tower family at real size for frozen / LoRA / full tuning:
model states under Accelerate mixed precision (fp32 weights: 4 bytes/param frozen; 16 bytes/param trained:
weights + gradient + two AdamW moments) and activations kept for the backward pass of trained layers, by
Korthikanti et al. (2022): s*b*h*(34 + 5*a*s/h) bytes per transformer layer in 16-bit (a frozen tower under
torch.no_grad keeps none; LoRA keeps the full activations of every layer it adapts).
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
LIVE = 'configs/scale_5mod_pretrained_tiny.py'
CACHED = 'configs/scale_5mod_pretrained_tiny_cached.py'
GIB = 2 ** 30

# Real-size towers (hyper-parameters of the hub models configs/scale_5mod_pretrained.py and docs name):
# name -> (transformers config class, kwargs, tokens per sample, LoRA targets per layer)
TOWERS = {
    'CLIP ViT-B/16 (image)': ('CLIPVisionConfig', dict(patch_size=16, image_size=224), 197, 2),
    'DINOv2 ViT-L/14 (image)': ('Dinov2Config', dict(hidden_size=1024, num_hidden_layers=24,
                                                     num_attention_heads=16, patch_size=14, image_size=518), 257, 2),
    'VideoMAE-B (video, 16 frames)': ('VideoMAEConfig', {}, 1568, 2),
    'wav2vec2-base (audio, 12 s)': ('Wav2Vec2Config', {}, 600, 2),
    'Whisper-small encoder (audio, 30 s)': ('WhisperConfig', dict(d_model=768, encoder_layers=12,
                                                                  decoder_layers=1, encoder_attention_heads=12,
                                                                  encoder_ffn_dim=3072), 1500, 2),
    'XLM-R base (title, 36 tokens)': ('XLMRobertaConfig', dict(vocab_size=250002), 36, 2),
}


def tower_params(cls_name: str, kwargs: dict) -> tuple:
    """(parameters, hidden size, layers, heads) of a transformers model built on the meta device."""
    import torch
    import transformers
    config = getattr(transformers, cls_name)(**kwargs)
    with torch.device('meta'):
        model = transformers.AutoModel.from_config(config)
    if getattr(config, 'is_encoder_decoder', False):
        model = model.get_encoder()
    hidden = getattr(config, 'hidden_size', None) or config.d_model
    layers = getattr(config, 'num_hidden_layers', None) or config.encoder_layers
    heads = getattr(config, 'num_attention_heads', None) or config.encoder_attention_heads
    return sum(p.numel() for p in model.parameters()), hidden, layers, heads


def memory_rows(batch_size: int, lora_rank: int = 16) -> list:
    """Computed GiB per GPU of each real-size tower: frozen / LoRA (q, v) / full tuning."""
    rows = []
    for name, (cls_name, kwargs, tokens, targets) in TOWERS.items():
        params, hidden, layers, heads = tower_params(cls_name, kwargs)
        act_layer = tokens * batch_size * hidden * (34 + 5 * heads * tokens / hidden)
        lora = layers * targets * 2 * lora_rank * hidden
        rows.append(dict(tower=name, params_m=params / 1e6, tokens=tokens,
                         frozen_gb=4 * params / GIB,
                         lora_gb=(4 * params + 16 * lora + layers * act_layer) / GIB,
                         full_gb=(16 * params + layers * act_layer) / GIB))
    return rows


def memory_table(rows: list, batch_size: int) -> str:
    head = (f'{"tower":<37} {"params":>8} {"tokens":>6} {"frozen":>8} {"LoRA r16":>9} {"full":>8}   '
            f'(GiB per GPU, batch {batch_size})')
    lines = [head, '-' * len(head)]
    lines += [f'{r["tower"]:<37} {r["params_m"]:>7.0f}M {r["tokens"]:>6} {r["frozen_gb"]:>8.2f} {r["lora_gb"]:>9.2f} '
              f'{r["full_gb"]:>8.2f}' for r in rows]
    return '\n'.join(lines)


def run_worker(config: str, options: dict, steps: int, precision: str) -> dict:
    """Loader and step throughput of ``config`` in this process."""
    import torch

    from m5mm.engine.builder import build_model
    from m5mm.datasets.loaders import build_dataloader
    from m5mm.utils.config import load_config
    cfg = load_config(config, dict(options, **{'train_dataloader.num_workers': 0}))
    loader = build_dataloader(cfg.train_dataloader, seed=0, shuffle=True, drop_last=True)
    tic = time.perf_counter()
    batches = [batch for batch, _ in zip(loader, range(steps + 1))]
    load_s = time.perf_counter() - tic
    torch.manual_seed(0)
    model = build_model(cfg.model, loader.dataset.meta).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step(batch):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision == 'bf16'):
            outputs = model(batch)
        sum(v for k, v in outputs.items() if k.startswith('loss')).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step(batches[0])  # warm-up
    tic = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    elapsed = time.perf_counter() - tic
    samples = sum(len(b['meta']['ids']) for b in batches[1:])
    return dict(config=config, precision=precision, steps=len(batches) - 1,
                loader_samples_per_s=sum(len(b['meta']['ids']) for b in batches) / load_s,
                step_samples_per_s=samples / elapsed, step_s=elapsed / (len(batches) - 1),
                trainable_m=sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6,
                peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20)


def prepare(data_root: str, pretrained_root: str) -> float:
    """Demo data, tiny models and the feature cache (made once); returns the caching time in s (0 if cached)."""
    from m5mm.experiments.catalogues.demo import make_demo_dataset
    from m5mm.evaluation.feature_cache import cache_features
    from m5mm.experiments.tiny_pretrained.models import make_tiny_pretrained
    from m5mm.utils.config import load_config
    if not (Path(data_root) / 'manifest.jsonl').is_file():
        make_demo_dataset(data_root)
    if not (Path(pretrained_root) / 'clip').is_dir():
        make_tiny_pretrained(pretrained_root)
    if (Path(data_root) / 'features' / 'manifest.jsonl').is_file():
        return 0.0
    tic = time.perf_counter()
    cfg = load_config(LIVE, {'data_root': data_root, 'pretrained_root': pretrained_root})
    cache_features(cfg, str(Path(data_root) / 'features'), num_workers=0)
    return time.perf_counter() - tic


def measure(args) -> tuple:
    cache_s = prepare(args.data_root, args.pretrained_root)
    rows = []
    for config in (LIVE, CACHED):
        cmd = [sys.executable, __file__, '--worker', config, '--steps', str(args.steps), '--precision',
               args.precision, '--batch-size', str(args.batch_size), '--data-root', args.data_root,
               '--pretrained-root', args.pretrained_root] + (['--threads', str(args.threads)] if args.threads else [])
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO,
                             env=dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=str(REPO)))
        if out.returncode != 0:
            raise SystemExit(f'{config} failed:\n{out.stderr[-3000:]}')
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows, cache_s


def throughput_table(rows: list) -> str:
    head = (f'{"towers":<8} {"prec":<5} {"loader samples/s":>17} {"step samples/s":>15} {"s/step":>7} '
            f'{"trainable":>10} {"peak RSS":>9}')
    lines = [head, '-' * len(head)]
    for r in rows:
        kind = 'cached' if 'cached' in r['config'] else 'live'
        lines.append(f'{kind:<8} {r["precision"]:<5} {r["loader_samples_per_s"]:>17.1f} '
                     f'{r["step_samples_per_s"]:>15.1f} {r["step_s"]:>7.3f} {r["trainable_m"]:>9.2f}M '
                     f'{r["peak_rss_gb"]:>7.2f}GB')
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', default='data/demo', help='demo catalogue (generated if absent)')
    parser.add_argument('--pretrained-root', default='data/tiny_pretrained', help='tiny models (written if absent)')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--steps', type=int, default=6)
    parser.add_argument('--precision', default='bf16', choices=['fp32', 'bf16'])
    parser.add_argument('--threads', type=int, default=None, help='torch threads per worker (default torch\'s)')
    parser.add_argument('--memory-batch-size', type=int, default=32, help='batch of the computed memory table')
    parser.add_argument('--estimate-only', action='store_true')
    parser.add_argument('--out', default='benchmarks/results/pretrained_cache_throughput.json')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    options = {'data_root': args.data_root, 'pretrained_root': args.pretrained_root,
               'train_dataloader.batch_size': args.batch_size}
    if args.worker:
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
        print(json.dumps(dict(run_worker(args.worker, options, args.steps, args.precision),
                              threads=torch.get_num_threads())))
        return
    import torch
    result = dict(machine=dict(platform=platform.platform(), threads=torch.get_num_threads(),
                               cuda=torch.cuda.is_available(), note='shared machine: compare ratios'))
    if not args.estimate_only:
        rows, cache_s = measure(args)
        print(throughput_table(rows))
        print(f'caching the {args.data_root} towers once took {cache_s:.1f} s (0: cache already there)')
        result.update(rows=rows, cache_seconds=cache_s)
    memory = memory_rows(args.memory_batch_size)
    print('\n' + memory_table(memory, args.memory_batch_size))
    result['memory_per_gpu_computed'] = memory
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
