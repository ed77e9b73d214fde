"""Write tiny random models of every supported pretrained family (with processor / tokenizer files).

    python tools/make_tiny_pretrained.py --out data/tiny_pretrained [--families clip,xlmr,wav2vec2,videomae]

Each OUT/<family>/ is written by the family's real save_pretrained (timm: save_for_hf), so it loads through
the same pretrained= path as a hub model; configs/scale_5mod_pretrained_tiny.py reads them
(--cfg-options pretrained_root=OUT). Families: image vit, clip, siglip, dinov2, convnext, timm_vit;
video videomae; audio wav2vec2, hubert, ast, whisper; text bert, xlmr.
"""


from m5mm.utils.cli import comma_list, tool_main, tool_parser
from m5mm.utils.cli_choices import TINY_FAMILIES


@tool_main
def main(argv=None) -> None:
    parser = tool_parser(__doc__)
    parser.add_argument('--out', required=True, help='output folder (one sub-folder per family)')
    parser.add_argument('--families', type=comma_list, default=None, help=f'default all: {",".join(TINY_FAMILIES)}')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    from m5mm.experiments.tiny_pretrained.models import make_tiny_pretrained
    for folder in make_tiny_pretrained(args.out, args.families, seed=args.seed):
        print(folder)


if __name__ == '__main__':
    main()
