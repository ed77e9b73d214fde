"""Export one feature vector per product of a split, for search indexes and offline evaluation.

    python tools/extract_features.py CONFIG CHECKPOINT --split gallery --out gallery.npz
                                     [--feature joint|fused|pooled] [--modalities text,image]
                                     [--per-modality] [--cfg-options key=value ...]

The .npz holds ids (strings), features (N x D float32), the labels (category, instance), present.<m>
flags, features.<m> per-modality vectors (--per-modality) and a classifier's logits; read it with
m5mm.evaluation.load_features or index it with `tools/search_index.py build --features FILE.npz`.
--split takes a split name of the manifest or several (query,gallery).
"""
import argparse

from m5mm.utils.cli import add_cfg_options, add_checkpoint_arguments, tool_main, tool_parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    add_checkpoint_arguments(parser)
    parser.add_argument('--split', required=True, help='split(s) to export, e.g. gallery or query,gallery')
    parser.add_argument('--out', required=True, help='output .npz')
    parser.add_argument('--per-modality', action='store_true', help='also store each modality\'s vector')
    add_cfg_options(parser)
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> str:
    args = parse_args(argv)
    from m5mm.evaluation.evaluate_checkpoint import export_features
    from m5mm.api.saved_config import load_config_file
    cfg = load_config_file(args.config, args.cfg_options)
    features, path = export_features(cfg, args.checkpoint, split=args.split, out=args.out,
                                     kind=args.feature, modalities=args.modalities,
                                     per_modality=args.per_modality)
    n, d = features['features'].shape
    print(f'{n} products x {d} ({args.feature}) -> {path}')
    return path


if __name__ == '__main__':
    main()
