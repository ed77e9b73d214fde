"""Turn a training checkpoint (Accelerate or DeepSpeed ZeRO, any stage) into plain model weights.

    python tools/convert_checkpoint.py work_dirs/scale_5mod/checkpoints/step_00000100 --out scale.pt
    python tools/convert_checkpoint.py work_dirs/scale_5mod --out scale.safetensors   # latest checkpoint

Every file is read without unpickling objects (safetensors, weights-only torch files; DeepSpeed's
files weights-only too): a checkpoint that holds anything else is refused, naming the file.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from m5mm.engine.checkpoint import latest_checkpoint  # noqa: E402
from m5mm.engine.weights import load_model_state_dict, save_model_state_dict  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint', help='a checkpoint directory, or a work dir (its latest checkpoint)')
    parser.add_argument('--out', required=True, help='output file: .pt/.bin (torch.save) or .safetensors')
    args = parser.parse_args(argv)
    path = latest_checkpoint(args.checkpoint) or args.checkpoint
    try:
        state = load_model_state_dict(path)
    except (ValueError, FileNotFoundError) as exc:   # CheckpointError: damaged or refused (never run)
        sys.exit(f'error: {exc}')
    out = save_model_state_dict(state, args.out)
    count = sum(v.numel() for v in state.values())
    print(f'{path} -> {out}: {len(state)} tensors, {count / 1e6:.2f} M values (fp32)')


if __name__ == '__main__':
    main()
