"""List what is registered in m5mm's registries, or the installed plugins.

    python tools/list_modules.py                # every registry
    python tools/list_modules.py encoder fusion # some registries
    python tools/list_modules.py optimizer --all  # include mmengine's / torch's optimizers
    python tools/list_modules.py --plugins [--strict]   # --strict: exit 1 if a plugin failed to import
"""


from m5mm.utils.cli import tool_main, tool_parser


@tool_main
def main(argv=None) -> None:
    parser = tool_parser(__doc__)
    parser.add_argument('registries', nargs='*', help='registry names (default: all)')
    parser.add_argument('--plugins', action='store_true', help='show installed plugins and what they registered')
    parser.add_argument('--strict', action='store_true',
                        help='with --plugins: exit 1 if a plugin failed to import')
    parser.add_argument('--all', action='store_true', help="include the parent registries' modules (torch optimizers)")
    args = parser.parse_args(argv)
    from m5mm.utils.inventory import format_plugins, format_registries
    from m5mm.utils.plugins import load_plugins
    if args.plugins:
        print(format_plugins())
        if args.strict and any(not s.loaded for s in load_plugins().values()):
            parser.exit(1)
        return
    try:
        print(format_registries(args.registries or None, include_parent=args.all))
    except KeyError as exc:
        parser.exit(2, f'error: {exc.args[0]}\n')


if __name__ == '__main__':
    main()
