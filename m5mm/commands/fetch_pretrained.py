"""Download a config's pretrained models once (needs the Hugging Face hub), into its pretrained_root.

    python tools/fetch_pretrained.py configs/scale_5mod_pretrained.py [--cfg-options pretrained_root=DIR]

The config's `pretrained_models = dict(image='org/name', ...)` are saved to PRETRAINED_ROOT/<key>, where its
towers, pipelines and tokenizer read them; training then runs offline. Only configs, safetensors weights,
tokenizer and processor files are fetched (never code).
"""


from m5mm.utils.cli import add_cfg_options, tool_main, tool_parser


@tool_main
def main(argv=None) -> None:
    parser = tool_parser(__doc__)
    parser.add_argument('config', help='a config with pretrained_models and pretrained_root')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    from m5mm.models.pretrained.fetch import fetch_pretrained
    from m5mm.utils.config import load_config
    cfg = load_config(args.config, args.cfg_options)
    if not cfg.get('pretrained_models') or not cfg.get('pretrained_root'):
        raise SystemExit(f'{args.config} sets no pretrained_models / pretrained_root to fetch')
    for name, folder in fetch_pretrained(dict(cfg.pretrained_models), cfg.pretrained_root).items():
        print(f'{name}: {cfg.pretrained_models[name]} -> {folder}')


if __name__ == '__main__':
    main()
