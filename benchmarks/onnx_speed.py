"""Torch against its ONNX export (float32 and int8) on the CPU: model time per product and retrieval change.

    python benchmarks/onnx_speed.py MODEL_DIR --data-root CATALOGUE [--batch-sizes 1,8,32] [--limit 0]
                                    [--threads 2] [--out benchmarks/results/onnx_speed.json]

The model is exported twice (tools/export_onnx.py, float32 and --quantize int8) into a temporary folder. Speed:
the catalogue's records are collated once per batch size, then each backend's ``extract_features`` runs on
the same batches (best of --repeats passes; preprocessing excluded, it is the same for all). Retrieval change:
tools/check_onnx.py's comparison of the product vectors of every record, whole and with random modality
subsets (seed 0): largest difference, smallest cosine, share of top-1 neighbours kept, top-10 overlap.
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model')
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--batch-sizes', default='1,8,32')
    parser.add_argument('--limit', type=int, default=0)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--out', default=None)
    return parser.parse_args(argv)


def time_backend(model, batches, repeats: int) -> float:
    """Best seconds of one pass over ``batches``."""
    import torch
    best = float('inf')
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            for batch in batches:
                model.extract_features(batch)
            best = min(best, time.perf_counter() - start)
    return best


def run(args) -> dict:
    import torch
    from m5mm.api import ProductEncoder
    from m5mm.deploy import export_onnx
    from m5mm.deploy.onnx_backend import onnx_parts
    from m5mm.deploy.parity import (check_parity, covering_records, read_manifest_records, record_fields,
                                    usable_records)
    torch.set_num_threads(args.threads)
    reference = ProductEncoder.from_pretrained(args.model, device='cpu')
    records = usable_records(read_manifest_records(args.data_root, limit=args.limit), record_fields(reference))
    report = dict(model=args.model, records=len(records), threads=args.threads, backends={},
                  machine=dict(processor=platform.processor() or platform.machine(), cpus=os.cpu_count(),
                               load_average=os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix='m5mm-onnx-bench-') as tmp:
        encoders = dict(torch=reference)
        trace = covering_records(records, record_fields(reference))
        for quantize in (None, 'int8'):
            out = export_onnx(reference, os.path.join(tmp, quantize or 'float32'), records=trace,
                              data_root=args.data_root, quantize=quantize)
            from m5mm.api.loading import load_encoder_parts
            parts = onnx_parts(load_encoder_parts(args.model), out, threads=args.threads)
            encoders[f'onnx {quantize or "float32"}'] = ProductEncoder(device='cpu', **parts)
            report['backends'][f'onnx {quantize or "float32"}'] = dict(
                file_bytes=sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out) if f.endswith('.onnx')))
        for size in [int(s) for s in args.batch_sizes.split(',')]:
            batches = [reference.collate_records(records[i:i + size], data_root=args.data_root)
                       for i in range(0, len(records), size)]
            for name, encoder in encoders.items():
                seconds = time_backend(encoder.model, batches, args.repeats)
                report['backends'].setdefault(name, {})[f'ms_per_product_batch{size}'] = 1000 * seconds / len(records)
        for name, encoder in encoders.items():
            if name != 'torch':
                report['backends'][name]['parity'] = check_parity(reference, encoder, records,
                                                                  data_root=args.data_root, seeds=(0,))
    return report


def format_table(report: dict, sizes) -> str:
    lines = ['| backend | ' + ' | '.join(f'ms / product (batch {s})' for s in sizes)
             + ' | max abs diff | min cosine | top-1 kept | top-10 overlap |', '|' + '---|' * (5 + len(sizes))]
    for name, row in report['backends'].items():
        times = ' | '.join(f'{row[f"ms_per_product_batch{s}"]:.2f}' for s in sizes)
        parity = row.get('parity')
        if parity:
            worst = min(parity['runs'].values(), key=lambda r: r['top1_same'])
            lines.append(f'| {name} | {times} | {parity["max_abs_diff"]:.2g} | {worst["min_cosine"]:.5f} | '
                         f'{worst["top1_same"]:.3f} | {worst["topk_overlap"]:.3f} |')
        else:
            lines.append(f'| {name} | {times} | - | - | - | - |')
    return '\n'.join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    report = run(args)
    print(format_table(report, args.batch_sizes.split(',')))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    main()
