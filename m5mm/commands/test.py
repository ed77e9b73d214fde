"""Evaluate a checkpoint on the downstream tasks: retrieval, classification, clustering, cross-modal.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--tasks retrieval,classification,clustering]
                         [--modalities image,text,...] [--feature joint|fused|pooled]
                         [--cross-modal text:image,image:text] [--classification auto|logits|probe]
                         [--prompt 'a photo of {}' ...] [--query-file queries.jsonl]
                         [--save-features] [--cfg-options key=value ...]

CONFIG: the training config, a .py file (executed: name only one you trust) or the checkpoint's
config.json (read as data, registered names only). CHECKPOINT: a checkpoint directory
(WORK_DIR/checkpoints/step_N, Accelerate or DeepSpeed), a work dir (its latest checkpoint) or a weights
file from tools/convert_checkpoint.py ("none" for a model without weights, such as the frozen concat
baseline configs/frozen_concat_packaged.py). Writes DIR/results.json
(fractions in [0, 1]; ARI in [-0.5, 1]) and DIR/test_info.json, and prints the table. DIR defaults to
<the checkpoint's work dir>/test_<YYYYmmdd_HHMMSS>. A fine-tuned classifier is scored by its logits, a
pretrained model by a linear probe (--classification forces one). --tasks zero_shot classifies products
by their nearest category name (or --prompt text) embedded by the text tower; --tasks text_retrieval ranks
the gallery for the text queries of --query-file (default DATA_ROOT/queries.jsonl) by nDCG@10 and MRR.
See docs/evaluation.md and docs/inference.md.
"""
import argparse

from m5mm.utils.cli import (add_cfg_options, add_checkpoint_arguments, comma_list, tool_main,
                            tool_parser)
from m5mm.utils.cli_choices import CLASSIFICATION_SOURCES, DEFAULT_TASKS, TASK_NAMES


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser(__doc__)
    add_checkpoint_arguments(parser)
    parser.add_argument('--work-dir', help='output folder (default <work dir>/test_<timestamp>)')
    parser.add_argument('--tasks', type=comma_list, default=list(DEFAULT_TASKS),
                        help=f'comma-separated, from {",".join(TASK_NAMES)} (default {",".join(DEFAULT_TASKS)}; '
                             f'"" with --cross-modal: cross-modal only)')
    parser.add_argument('--cross-modal', default=None,
                        help='cross-modal retrieval pairs, e.g. text:image,image:text')
    parser.add_argument('--classification', default='auto', choices=CLASSIFICATION_SOURCES,
                        help='auto: a classifier\'s logits, else a linear probe on the train split')
    parser.add_argument('--prompt', action='append', dest='prompts', default=None,
                        help='zero-shot prompt with {} for the category name (repeatable; default "{}")')
    parser.add_argument('--query-file', help='text queries with graded relevance for text_retrieval '
                                             '(default DATA_ROOT/queries.jsonl)')
    parser.add_argument('--save-features', action='store_true',
                        help='also write DIR/features_<split>.npz')
    add_cfg_options(parser)
    return parser.parse_args(argv)


@tool_main
def main(argv=None) -> dict:
    args = parse_args(argv)
    from m5mm.evaluation.evaluate_checkpoint import evaluate_checkpoint
    from m5mm.evaluation import format_results
    from m5mm.api.saved_config import load_config_file
    cfg = load_config_file(args.config, args.cfg_options)
    results, out = evaluate_checkpoint(cfg, args.checkpoint, work_dir=args.work_dir, tasks=args.tasks,
                                       kind=args.feature, modalities=args.modalities,
                                       cross_modal=args.cross_modal, classification=args.classification,
                                       save_splits=args.save_features,
                                       task_options=dict(zero_shot=dict(prompts=args.prompts),
                                                         text_retrieval=dict(query_file=args.query_file)))
    print(format_results(results))
    print(f'results written to {out / "results.json"}')
    return results


if __name__ == '__main__':
    main()
