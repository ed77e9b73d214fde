"""Run a config's frozen pretrained towers once over its dataset and store their outputs as features.

    python tools/cache_features.py CONFIG --out DATA_ROOT/features [--modalities image,video,audio]
                                   [--dtype float16|float32] [--precision no|bf16|fp16] [--batch-size N]
                                   [--shard I/N] [--manifest-only] [--cfg-options key=value ...]

Writes OUT/<modality>/xx/<id>.npy (each sample's tower tokens), OUT/<modality>/cache_record.json (model,
fingerprint, preprocessing) and OUT/manifest.jsonl (the manifest with <modality>_feat keys). Train on them
with a config reading those modalities with source='feature' and LoadCachedFeature (see
configs/scale_5mod_pretrained_tiny_cached.py). Files already there are kept, so a killed run continues;
with --shard I/N, N processes (or machines sharing the folder) each cache every N-th record; run once
more with --manifest-only when all are done. See docs/pretrained.md.
"""
import argparse
import json

from m5mm.utils.cli import add_cfg_options, comma_list, tool_main, tool_parser
from m5mm.utils.cli_choices import CACHE_DTYPES


def shard(text: str):
    """``'I/N'`` -> (I, N)."""
    index, _, count = text.partition('/')
    return int(index), int(count)


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('config', help='the config whose frozen towers are run (reading raw media)')
    parser.add_argument('--out', required=True, help='output folder, inside the dataset\'s data root')
    parser.add_argument('--modalities', type=comma_list, default=None, help='towers to cache (default all frozen)')
    parser.add_argument('--dtype', default='float16', choices=CACHE_DTYPES, help='stored dtype (default float16)')
    parser.add_argument('--precision', default='no', choices=('no', 'bf16', 'fp16'), help='autocast of the towers')
    parser.add_argument('--batch-size', type=int, default=None, help='default: the train loader\'s')
    parser.add_argument('--num-workers', type=int, default=None, help='default: the train loader\'s')
    parser.add_argument('--shard', type=shard, default=(0, 1), help='I/N: cache every N-th record from the I-th')
    parser.add_argument('--manifest-only', action='store_true', help='only write the manifest of what is cached')
    add_cfg_options(parser)
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> None:
    args = parse_args(argv)
    from m5mm.evaluation.feature_cache import cache_features
    from m5mm.utils.config import load_config
    cfg = load_config(args.config, args.cfg_options)
    summary = cache_features(cfg, args.out, modalities=args.modalities, batch_size=args.batch_size,
                             num_workers=args.num_workers, dtype=args.dtype, precision=args.precision,
                             shard=args.shard, manifest_only=args.manifest_only)
    print(json.dumps(summary, indent=2))


if __name__ == '__main__':
    main()
