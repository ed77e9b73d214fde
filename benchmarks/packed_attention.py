"""Which variable-length attention for token packing: a micro-benchmark of the candidates.

    python benchmarks/packed_attention.py                       # SCALE-fusion-like sizes
    python benchmarks/packed_attention.py --batch 4 --dim 64 --repeats 2   # smoke

Self-attention (forward + backward, 8 heads) of ``--batch`` samples whose valid token counts are
drawn in [``--min-len``, ``--max-len``] (a fusion sequence of 5 modalities with absent ones), by:

* ``padded``: SDPA on the padded (B, N) batch with a key mask (today's path);
* ``compact``: SDPA on the compact (B', L) batch of :class:`m5mm.models.layers.PackedLayout`
  (what ``pack_tokens`` runs, gather/scatter included);
* ``block_diagonal``: SDPA on one packed (1, T) sequence with a (T, T) block-diagonal mask;
* ``nested``: SDPA on a jagged nested tensor (``torch.nested``, layout=torch.jagged);
* ``flex``: ``flex_attention`` with a document block mask, eager (uncompiled).

Prints a table (median seconds, vs padded), writes JSON. A candidate that fails here is
reported with its error.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def candidates(x, mask, heads: int):
    """name -> closure running forward + backward of one variant on x (B, N, D), mask (B, N)."""
    import torch
    import torch.nn.functional as F

    from m5mm.models.layers import PackedLayout
    from m5mm.models.layers.transformer import attention_mask
    batch, num, dim = x.shape
    hd = dim // heads

    def split(t):   # (..., n, D) -> (..., h, n, d)
        return t.unflatten(-1, (heads, hd)).transpose(-3, -2)

    def padded():
        q = split(x)
        out = F.scaled_dot_product_attention(q, q, q, attn_mask=attention_mask(mask))
        out.sum().backward()

    def compact():
        layout = PackedLayout.from_mask(mask)
        q = split(layout.to_compact(layout.pack(x)))
        out = F.scaled_dot_product_attention(q, q, q, attn_mask=layout.attn_mask)
        layout.from_compact(out.transpose(1, 2).flatten(2)).sum().backward()

    def block_diagonal():
        layout = PackedLayout.from_mask(mask)
        packed = layout.pack(x)
        owner = torch.arange(batch).repeat_interleave(num)[layout.valid]
        block = owner[:, None] == owner[None, :]
        q = split(packed[None])
        F.scaled_dot_product_attention(q, q, q, attn_mask=block).sum().backward()

    def nested():
        lengths = mask.sum(1)
        rows = [x[b, :int(n)] for b, n in enumerate(lengths) if n > 0]
        nt = torch.nested.as_nested_tensor(rows, layout=torch.jagged)     # keeps the autograd graph to x
        q = nt.unflatten(-1, (heads, hd)).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, q, q)
        out.values().sum().backward()

    def flex():
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        layout = PackedLayout.from_mask(mask)
        packed = layout.pack(x)
        owner = torch.arange(batch).repeat_interleave(num)[layout.valid]
        total = packed.shape[0]

        def same_doc(b, h, q_idx, kv_idx):
            return owner[q_idx] == owner[kv_idx]
        block = create_block_mask(same_doc, None, None, total, total, device=str(x.device))
        q = split(packed[None])
        flex_attention(q, q, q, block_mask=block).sum().backward()

    return dict(padded=padded, compact=compact, block_diagonal=block_diagonal, nested=nested, flex=flex)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--min-len', type=int, default=60)
    parser.add_argument('--max-len', type=int, default=260)
    parser.add_argument('--dim', type=int, default=768)
    parser.add_argument('--heads', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default='benchmarks/results/packed_attention.json')
    args = parser.parse_args(argv)
    import torch
    gen = torch.Generator().manual_seed(args.seed)
    lengths = torch.randint(args.min_len, args.max_len + 1, (args.batch,), generator=gen)
    num = int(lengths.max())
    # valid tokens spread over the sequence (absent modality segments leave holes)
    scores = torch.rand(args.batch, num, generator=gen)
    mask = scores.argsort(1).argsort(1) < lengths[:, None]
    x = torch.randn(args.batch, num, args.dim, generator=gen, requires_grad=True)
    rows = []
    for name, fn in candidates(x, mask, args.heads).items():
        times, error = [], None
        try:
            for _ in range(args.repeats + 1):
                tic = time.perf_counter()
                fn()
                times.append(time.perf_counter() - tic)
                x.grad = None
        except Exception as exc:  # a candidate that does not run here is a result too
            error = f'{type(exc).__name__}: {str(exc)[:200]}'
        rows.append(dict(variant=name, median_s=statistics.median(times[1:]) if len(times) > 1 else None,
                         error=error))
    base = rows[0]['median_s']
    print(f'attention fwd+bwd, batch {args.batch}, lengths {args.min_len}-{args.max_len} (padded to {num}), '
          f'dim {args.dim}, {args.heads} heads, {torch.get_num_threads()} threads')
    for r in rows:
        shown = f'{r["median_s"]:.4f} s  {base / r["median_s"]:.2f}x' if r['median_s'] else r['error']
        print(f'{r["variant"]:<15} {shown}')
    result = dict(command=' '.join(['python benchmarks/packed_attention.py'] + (argv or sys.argv[1:])),
                  args=vars(args), tokens=int(lengths.sum()), padded_tokens=args.batch * num,
                  machine=dict(platform=platform.platform(), threads=torch.get_num_threads(),
                               torch=torch.__version__, load_avg=os.getloadavg()), rows=rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == '__main__':
    main()
