"""Turn a training checkpoint (Accelerate or DeepSpeed ZeRO, any stage) into plain model weights.

    python tools/convert_checkpoint.py work_dirs/scale_5mod/checkpoints/step_00000100 --out scale.pt
    python tools/convert_checkpoint.py work_dirs/scale_5mod --out scale.safetensors   # latest checkpoint
    python tools/convert_checkpoint.py work_dirs/lora_run --out merged.pt --merge-lora  # LoRA merged in;
        # writes merged.pt.config.py too (the config with lora removed), e.g. for tools/test.py

Every file is read without unpickling objects (safetensors, weights-only torch files; DeepSpeed's
files weights-only too) and checked against the size and sha256 its checkpoint's meta.json recorded:
a checkpoint that holds anything else, or a damaged file, is refused, naming the file. --merge-lora
builds the model from the checkpoint's config.json (registered names only; its config.py is never run).
"""


from m5mm.utils.cli import tool_main, tool_parser


@tool_main
def main(argv=None) -> None:
    parser = tool_parser(__doc__)
    parser.add_argument('checkpoint', help='a checkpoint directory, or a work dir (its latest checkpoint)')
    parser.add_argument('--out', required=True, help='output file: .pt/.bin (torch.save) or .safetensors')
    parser.add_argument('--merge-lora', action='store_true',
                        help='merge the LoRA adapters of pretrained towers into plain weights (needs the config)')
    parser.add_argument('--config',
                        help='with --merge-lora: the run\'s config, executed if a .py file (default: the '
                             'checkpoint\'s config.json, read as data)')
    args = parser.parse_args(argv)
    from m5mm.checkpoint.manager import latest_checkpoint
    from m5mm.checkpoint.weights import load_model_state_dict, save_model_state_dict
    path = latest_checkpoint(args.checkpoint) or args.checkpoint
    if args.merge_lora:
        merge_lora(path, args.out, args.config)
        return
    state = load_model_state_dict(path)   # CheckpointError: damaged or refused (never run)
    out = save_model_state_dict(state, args.out)
    count = sum(v.numel() for v in state.values())
    print(f'{path} -> {out}: {len(state)} tensors, {count / 1e6:.2f} M values (fp32)')


def merge_lora(path, out: str, config) -> None:
    from m5mm.api.saved_config import run_config
    from m5mm.engine.lora_export import export_merged_weights
    cfg, _ = run_config(path, config=config)   # default: the checkpoint's config.json, read as data
    weights, config_path, count = export_merged_weights(cfg, path, out)
    print(f'{path} -> {weights}: {count} LoRA layers merged; config without LoRA: {config_path}')


if __name__ == '__main__':
    main()
