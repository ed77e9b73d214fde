"""Compare an ONNX export with its torch model on a catalogue: the vectors of every record, whole and with
random subsets of its modalities, through both backends.

    python tools/check_onnx.py MODEL_DIR --onnx ONNX_DIR --data-root CATALOGUE [--limit 0] [--seeds 0,1,2]
                               [--tolerance 1e-4] [--json OUT.json]

Prints, per run, the largest absolute difference of the vectors, the smallest cosine, and the retrieval
change among the records (share of top-1 neighbours kept, mean top-10 overlap). Exits 1 when the largest
difference is over --tolerance (1e-4 suits float32 graphs; an int8 export needs a looser one, e.g. 0.1).
"""
import argparse
import json

from m5mm.utils.cli import comma_list, tool_main, tool_parser
from m5mm.utils.logging import get_logger


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('model', help='model folder')
    parser.add_argument('--onnx', required=True, help='the ONNX folder of tools/export_onnx.py')
    parser.add_argument('--data-root', required=True, help='catalogue folder (manifest.jsonl)')
    parser.add_argument('--limit', type=int, default=0, help='the first N records only (0: all)')
    parser.add_argument('--seeds', type=comma_list, default=['0', '1', '2'], help='one subset draw per seed')
    parser.add_argument('--tolerance', type=float, default=1e-4)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--json', default=None, help='also write the report here')
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> dict:
    args = parse_args(argv)
    get_logger()
    from m5mm.api import ProductEncoder
    from m5mm.deploy.parity import check_parity, read_manifest_records
    reference = ProductEncoder.from_pretrained(args.model, device='cpu')
    exported = ProductEncoder.from_pretrained(args.model, backend='onnx', onnx_dir=args.onnx)
    report = check_parity(reference, exported, read_manifest_records(args.data_root, limit=args.limit),
                          data_root=args.data_root, seeds=[int(s) for s in args.seeds], batch_size=args.batch_size)
    print(f'{"run":<16} {"rows":>5} {"max |diff|":>11} {"min cos":>9} {"top1 same":>10} {"top-k overlap":>14}')
    for name, row in report['runs'].items():
        print(f'{name:<16} {row["rows"]:>5} {row["max_abs_diff"]:>11.3g} {row["min_cosine"]:>9.6f} '
              f'{row["top1_same"]:>10.3f} {row["topk_overlap"]:>14.3f}')
    report['tolerance'] = args.tolerance
    report['passed'] = report['max_abs_diff'] <= args.tolerance
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    print(f'{"PASS" if report["passed"] else "FAIL"}: largest difference {report["max_abs_diff"]:.3g} '
          f'(tolerance {args.tolerance:g})')
    if not report['passed']:
        raise SystemExit(1)
    return report


if __name__ == '__main__':
    main()
