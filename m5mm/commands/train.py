"""Train a model from a config.

    python tools/train.py configs/scale_5mod.py [--work-dir DIR] [--resume [CHECKPOINT]]
                                                [--max-steps N] [--cfg-options key=value ...]
    accelerate launch --config_file configs/accelerate/ZERO2.yaml tools/train.py configs/scale_5mod.py
"""
import argparse

from m5mm.utils.cli import add_cfg_options, tool_main, tool_parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    parser.add_argument('config', help='config file, e.g. configs/scale_5mod.py')
    parser.add_argument('--work-dir', help='where checkpoints and logs go (default work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CHECKPOINT, or from the latest one in the work dir if no path is given')
    parser.add_argument('--max-steps', type=int, default=None,
                        help='stop (with a checkpoint) after this many optimizer steps, e.g. to fit a cluster '
                             'time limit; the schedule still spans train_cfg.max_epochs. Continue with --resume')
    parser.add_argument('--allow-config-change', action='store_true',
                        help='with --resume: continue even though the config changes the model or the training '
                             'data (batch size, seed, dataset); otherwise such a resume is refused. Every '
                             'resume\'s changes are recorded in WORK_DIR/resumes.jsonl')
    add_cfg_options(parser)
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> None:
    args = parse_args(argv)
    from m5mm.engine import run_training
    run_training(args.config, work_dir=args.work_dir, resume=args.resume, cfg_options=args.cfg_options,
                 max_steps=args.max_steps, allow_config_change=args.allow_config_change)


if __name__ == '__main__':
    main()
