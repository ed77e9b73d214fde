"""Write WebDataset shards of a catalogue (every split), optionally with media preprocessed.

    python tools/make_shards.py data/demo --out data/demo_shards --workers 2
    python tools/make_shards.py data/demo --out shards/ --preprocess all --config configs/scale_5mod.py
    python tools/make_shards.py configs/scale_5mod.py --out shards/ --preprocess image,video,audio
    python tools/make_shards.py /data/m5product --out /shards/m5 --part 3/16   # one job of an array

Rerunning skips complete chunks; the part that completes the last chunk writes index.json.
Train on the result with --cfg-options data_root=DIR (see docs/data.md). --preprocess stores the output of
the pipelines' first steps, so the shards train only with a config whose pipelines start the same: with a
data folder as SRC it needs --config, the config you will train with.
"""
from __future__ import annotations

import argparse
import logging

from m5mm.utils.cli import add_cfg_options, comma_list, tool_main, tool_parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('src', help='a manifest data root, an M5Product release folder, or a config file')
    parser.add_argument('--out', required=True, help='the shard folder to write')
    parser.add_argument('--shard-size', type=int, default=None, help='products per shard (default 1000)')
    parser.add_argument('--max-shard-mb', type=float, default=None, help='also start a new tar file at this size')
    parser.add_argument('--preprocess', default=None,
                        help="modalities whose build-time pipeline steps run now: image,video,audio, all or none "
                             "(default: the config's shards.preprocess, else none)")
    parser.add_argument('--workers', type=int, default=1, help='processes writing chunks in parallel')
    parser.add_argument('--part', default=None, metavar='I/N', help='build only chunks I, I+N, ... (job arrays)')
    parser.add_argument('--modalities', type=comma_list, default=None, help='modalities of a data folder')
    parser.add_argument('--config', default=None,
                        help='with a data folder SRC: the training config whose modalities and pipelines to use '
                             '(required with --preprocess)')
    add_cfg_options(parser)
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> dict:
    args = parse_args(argv)
    from m5mm.datasets.shards.command import make_shards
    logging.basicConfig(level=logging.ERROR, format='%(levelname)s %(message)s')
    result = make_shards(args.src, out=args.out, shard_size=args.shard_size, max_shard_mb=args.max_shard_mb,
                         preprocess=args.preprocess, workers=args.workers, part=args.part,
                         modalities=args.modalities, cfg_options=args.cfg_options, config=args.config)
    print(f'{result["built"]} chunks built ({result["samples"]} products), {result["skipped"]} already complete, '
          f'in {result["seconds"]:.1f} s; index: {result["index"] or "not yet (other parts missing)"}')
    return result


if __name__ == '__main__':
    main()
