"""Contrastive-aware accumulation: K micro-batches of B against one batch of K*B (loss, gradients, memory).

    python benchmarks/contrastive_accumulation.py                  # K=4 x B=8 vs one batch of 32
    python benchmarks/contrastive_accumulation.py --micro 32 --steps 4

The model is ``configs/fusion/clip_2mod.py`` (CLIP towers of width 256 on 64 px images and
titles, the all-pairs contrastive loss with a learnable temperature) in fp32 with dropout off
(so that both runs draw nothing and can be compared number for number), on one synthetic batch.
Each run is its own process: ``whole`` does one forward/backward of K*B samples, ``accumulated``
the same batch through :class:`m5mm.engine.contrastive_accumulation.ContrastiveAccumulator` with
K micro-batches of B. Reported: the loss and the largest gradient difference between the two, the
step time, and memory: the process's peak RSS minus its RSS right before the step (CPU; the
gradient buffers and the allocator's caching dominate it at this size) or
``torch.cuda.max_memory_allocated`` (GPU), and the activation memory itself: the largest amount of
tensor storage autograd holds for one backward (counted by ``saved_tensors_hooks``). Prints a
table, writes JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CONFIG = REPO / 'configs' / 'fusion' / 'clip_2mod.py'


def _rss_mib() -> float:
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmRSS')) / 1024


def run_worker(mode: str, k: int, micro: int, title_len: int, out_file: str) -> dict:
    """One forward/backward (``whole`` or ``accumulated``); gradients saved to ``out_file``."""
    import torch
    from safetensors.torch import save_file

    sys.path.insert(0, str(REPO / 'benchmarks'))
    from vs_open_clip import make_data
    from m5mm.utils.accelerator import build_accelerator
    from m5mm.engine.contrastive_accumulation import ContrastiveAccumulator
    from m5mm.models.param_budget import build_model_from_config
    from m5mm.utils.config import load_config
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    torch.manual_seed(0)
    model = build_model_from_config(load_config(str(CONFIG))).to(device).eval()   # eval: no dropout
    size = k * micro
    pixels, ids, mask = make_data(size, 6, title_len)
    present = torch.ones(size, dtype=torch.bool, device=device)
    batch = {'image': {'pixels': pixels.to(device), 'present': present},
             'text': {'input_ids': ids.to(device), 'attention_mask': mask.to(device), 'present': present},
             'meta': {'ids': [str(i) for i in range(size)]}}
    accumulator = ContrastiveAccumulator(accelerator=build_accelerator(precision='no'), steps=k)
    saved = SavedActivations(model)
    rss = _rss_mib()
    tic = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda x: x):
        if mode == 'whole':
            out = model(batch)
            sum(v for key, v in out.items() if key.startswith('loss')).backward()
        else:
            out = accumulator.forward_backward(model, batch)
    if device.type == 'cuda':
        torch.cuda.synchronize()
    seconds = time.perf_counter() - tic
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == 'cuda' else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss
    grads = {n: p.grad.detach().cpu().contiguous() for n, p in model.named_parameters() if p.grad is not None}
    save_file(grads, out_file)
    return dict(mode=mode, samples=size, micro_batch=micro if mode != 'whole' else size,
                loss=float(out['loss_con'].detach()), seconds=seconds, peak_mib=peak,
                activation_mib=saved.peak() / 2 ** 20)


class SavedActivations:
    """The bytes autograd saves for backward (distinct storages, parameters not counted), per
    window: a window opens at each forward of ``model`` (a micro-batch's graph is freed before the
    next one starts), and the cache step's graph falls in the window after the last collect
    forward. :meth:`peak`: the largest."""

    def __init__(self, model) -> None:
        self.windows = [{}]
        self.weights = {p.untyped_storage().data_ptr() for p in model.parameters()}   # saved, but not activations
        model.register_forward_pre_hook(lambda *args: self.windows.append({}))

    def pack(self, tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in self.weights:
            self.windows[-1][storage.data_ptr()] = storage.nbytes()
        return tensor

    def peak(self) -> int:
        return max(sum(w.values()) for w in self.windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--k', type=int, default=4, help='micro-batches per batch')
    parser.add_argument('--micro', type=int, default=8, help='micro-batch size B')
    parser.add_argument('--title-len', type=int, default=24)
    parser.add_argument('--out', default=str(REPO / 'benchmarks' / 'results' / 'contrastive_accumulation.json'))
    parser.add_argument('--worker', nargs=2, metavar=('MODE', 'FILE'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker[0], args.k, args.micro, args.title_len, args.worker[1])))
        return
    from safetensors.torch import load_file
    rows, grads = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ('whole', 'accumulated'):
            path = str(Path(tmp) / f'{mode}.safetensors')
            result = subprocess.run([sys.executable, __file__, '--worker', mode, path, '--k', str(args.k),
                                     '--micro', str(args.micro), '--title-len', str(args.title_len)],
                                    capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
            if result.returncode:
                raise SystemExit(f'{mode} failed:\n{result.stderr[-3000:]}')
            rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
            grads[mode] = load_file(path)
    whole, acc = grads['whole'], grads['accumulated']
    max_grad_diff = max(float((whole[n] - acc[n]).abs().max()) for n in whole)
    max_grad = max(float(whole[n].abs().max()) for n in whole)
    summary = dict(rows=rows, k=args.k, micro_batch=args.micro, loss_diff=abs(rows[0]['loss'] - rows[1]['loss']),
                   max_grad_diff=max_grad_diff, max_grad=max_grad,
                   peak_ratio=rows[1]['peak_mib'] / max(rows[0]['peak_mib'], 1e-9),
                   activation_ratio=rows[1]['activation_mib'] / max(rows[0]['activation_mib'], 1e-9))
    print(f'{"mode":>12} {"samples":>7} {"micro":>5} {"loss":>10} {"step s":>7} {"peak RSS+ MiB":>13} '
          f'{"activations MiB":>15}')
    for r in rows:
        print(f'{r["mode"]:>12} {r["samples"]:>7} {r["micro_batch"]:>5} {r["loss"]:>10.6f} {r["seconds"]:>7.2f} '
              f'{r["peak_mib"]:>13.1f} {r["activation_mib"]:>15.1f}')
    print(f'loss difference {summary["loss_diff"]:.2e}; largest gradient difference {max_grad_diff:.2e} '
          f'(largest gradient {max_grad:.2e}); accumulated / whole: peak RSS increase {summary["peak_ratio"]:.2f}, '
          f'saved activations {summary["activation_ratio"]:.2f}')
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))


if __name__ == '__main__':
    main()
