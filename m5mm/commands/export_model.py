"""Export a trained checkpoint as a self-contained model folder, evaluated for its model card.

    python tools/export_model.py CHECKPOINT --out MODEL_DIR [--config CONFIG] [--no-eval]
                                 [--tasks retrieval,classification,clustering,zero_shot,text_retrieval]
                                 [--robustness none|default|all] [--push-to-hub ORG/NAME] [--cfg-options ...]

The card's evaluation runs on the config's query/gallery splits: one pass over them for --tasks (plus one
over train for the linear probe, and the texts of zero-shot / text retrieval); --robustness adds one
retrieval pass per modality subset (default none; 'default' = 11 passes for 5 modalities). --no-eval: none.

CHECKPOINT: a checkpoint dir, a work dir (its latest checkpoint) or a weights file (then give --config).
MODEL_DIR receives m5mm_model.json, model.safetensors, tokenizer/, evaluation.json and README.md (the card:
training data, evaluation results, retrieval mAP per set of modalities present). Load it with
m5mm.api.ProductEncoder.from_pretrained(MODEL_DIR); see docs/inference.md.
"""
import argparse

from m5mm.utils.cli import add_cfg_options, comma_list, tool_main, tool_parser
from m5mm.utils.cli_choices import ROBUSTNESS
from m5mm.utils.logging import get_logger


def _subsets(text: str):
    return text if text in ROBUSTNESS else [comma_list(part) for part in text.split(';') if part.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('checkpoint', help='checkpoint dir, work dir or weights file')
    parser.add_argument('--out', required=True, help='model folder to write')
    parser.add_argument('--config', default=None,
                        help='training config, executed if a .py file (default: the checkpoint\'s config.json, '
                             'read as data)')
    parser.add_argument('--no-eval', action='store_true', help='skip the evaluation (card without results)')
    parser.add_argument('--tasks', type=comma_list, default=None, help='evaluation tasks of the card')
    parser.add_argument('--robustness', default='none', type=_subsets,
                        help=f'modality subsets of the robustness table, one evaluation pass each: '
                             f'{"|".join(ROBUSTNESS)} (none, the default: no table; "default": each alone, each '
                             f'left out, all; "all": every subset) or subsets like "text;image;text,image"')
    parser.add_argument('--push-to-hub', default=None, metavar='ORG/NAME', help='also upload the folder')
    add_cfg_options(parser)
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> str:
    args = parse_args(argv)
    get_logger()
    from m5mm.api import export_model
    from m5mm.api.hub import push_folder_to_hub
    export_model(args.checkpoint, args.out, config=args.config, cfg_options=args.cfg_options,
                 evaluate=not args.no_eval, tasks=args.tasks, robustness=args.robustness)
    if args.push_to_hub:
        print(f'uploaded: {push_folder_to_hub(args.out, args.push_to_hub)}')
    print(f'model folder written to {args.out}')
    return args.out


if __name__ == '__main__':
    main()
