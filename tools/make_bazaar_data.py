"""Write the bazaar catalogue (a second synthetic catalogue, see docs/demo_data.md).

    python tools/make_bazaar_data.py --out data/bazaar --num 600 --seed 0
"""
import argparse
import json

from m5mm.experiments.catalogues.bazaar import make_bazaar_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--num', type=int, default=600, help='number of records')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(make_bazaar_dataset(args.out, num_products=args.num, seed=args.seed), indent=1))


if __name__ == '__main__':
    main()
