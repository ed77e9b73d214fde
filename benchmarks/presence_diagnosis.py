"""Issue 22: presence gap / share, partial-query retrieval and spreads of trained benchmark cells.

    python benchmarks/presence_diagnosis.py work_dirs/i22_base/cells/scale__all__seed0 [...] \
        --joints fusion,centred --out benchmarks/results/issue22_presence_base.json

Each CELL is a benchmark cell kept with ``--keep-checkpoints`` (its config.py and latest
checkpoint). See m5mm.experiments.paper_tables.presence_diagnosis and docs/benchmark.md.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from m5mm.evaluation.evaluate_checkpoint import build_model_for_eval  # noqa: E402
from m5mm.experiments.paper_tables.presence_diagnosis import presence_diagnosis  # noqa: E402
from m5mm.utils.config import load_config  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('cells', nargs='+', help='benchmark cell directories (config.py + checkpoints/)')
    parser.add_argument('--joints', default='fusion', help="comma-separated joint forms, e.g. 'fusion,centred'")
    parser.add_argument('--out', required=True, help='JSON file written')
    parser.add_argument('--num-threads', type=int, default=1)
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.num_threads)
    result = {}
    for cell in args.cells:
        cfg = load_config(os.path.join(cell, 'config.py'))
        model = build_model_for_eval(cfg, cell)
        info = json.load(open(os.path.join(cell, 'result.json'))) if os.path.isfile(
            os.path.join(cell, 'result.json')) else {}
        result[os.path.basename(cell.rstrip('/'))] = dict(
            seed=info.get('seed'), steps=info.get('steps'), train_seconds=info.get('train_seconds'),
            cfg_options=None, **presence_diagnosis(model, cfg, joints=args.joints.split(',')))
        print(cell, json.dumps({j: result[os.path.basename(cell.rstrip('/'))][j]['metrics']
                                for j in args.joints.split(',')}), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1, default=str)
    return result


if __name__ == '__main__':
    main()
