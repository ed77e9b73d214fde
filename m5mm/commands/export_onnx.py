"""Export a model folder's towers and fusion to ONNX (one file per tower, one for fusion + joint head).

    python tools/export_onnx.py MODEL_DIR --out ONNX_DIR --data-root CATALOGUE [--quantize int8]

MODEL_DIR: a model folder (tools/export_model.py). CATALOGUE: a folder with manifest.jsonl; a few of its
records (together having every modality) are the examples the graphs are traced on (batch and sequence
axes stay dynamic). ONNX_DIR receives tower_<m>.onnx, fusion.onnx and onnx_model.json (the inputs and
outputs of every graph, the weights' fingerprint, the sha256 of each file). --quantize int8: dynamic int8
quantisation of every graph. Use it with ProductEncoder.from_pretrained(MODEL_DIR, backend='onnx',
onnx_dir=ONNX_DIR) and compare with the torch model by tools/check_onnx.py; see docs/inference.md.
"""
import argparse

from m5mm.utils.cli import tool_main, tool_parser
from m5mm.utils.logging import get_logger


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('model', help='model folder')
    parser.add_argument('--out', required=True, help='folder to write the ONNX files into')
    parser.add_argument('--data-root', required=True, help='catalogue folder whose records the graphs are traced on')
    parser.add_argument('--quantize', default=None, choices=['int8'], help='dynamic int8 quantisation')
    parser.add_argument('--opset', type=int, default=17)
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> str:
    args = parse_args(argv)
    get_logger()
    from m5mm.api import ProductEncoder
    from m5mm.deploy import export_onnx
    from m5mm.deploy.parity import covering_records, read_manifest_records, record_fields
    encoder = ProductEncoder.from_pretrained(args.model, device='cpu')
    records = covering_records(read_manifest_records(args.data_root), record_fields(encoder))
    export_onnx(encoder, args.out, records=records, data_root=args.data_root, quantize=args.quantize,
                opset=args.opset)
    print(f'ONNX graphs ({args.quantize or "float32"}) of {args.model} written to {args.out}')
    return args.out


if __name__ == '__main__':
    main()
