"""Reading model weights out of any m5mm checkpoint: plain Accelerate or DeepSpeed ZeRO.

Training checkpoints (``WORK_DIR/checkpoints/step_*``) hold the whole training state; for
evaluation and export only the model's weights are needed. DeepSpeed checkpoints store them
partitioned (ZeRO) and in the engine's dtype; they are merged into one fp32 state dict with
DeepSpeed's own ``get_fp32_state_dict_from_zero_checkpoint``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Union

import torch
from torch import Tensor, nn

PathLike = Union[str, Path]
_PLAIN_FILES = ('pytorch_model.bin', 'model.safetensors')


def _load_file(path: Path) -> Dict[str, Tensor]:
    if path.suffix == '.safetensors':
        from safetensors.torch import load_file
        return load_file(str(path))
    state = torch.load(str(path), map_location='cpu', weights_only=True)
    if isinstance(state, dict) and 'state_dict' in state and isinstance(state['state_dict'], dict):
        state = state['state_dict']
    return state


def is_deepspeed_checkpoint(path: PathLike) -> bool:
    """True for a directory written by ``accelerator.save_state`` under DeepSpeed."""
    return (Path(path) / 'latest').is_file() and (Path(path) / 'pytorch_model').is_dir()


def load_model_state_dict(checkpoint: PathLike) -> Dict[str, Tensor]:
    """The model's fp32 state dict from a checkpoint directory or a weights file.

    Args:
        checkpoint: a training checkpoint directory (Accelerate or DeepSpeed), or a file
            (``.bin``/``.pt``/``.pth``/``.safetensors``, e.g. from ``tools/convert_checkpoint.py``).
    """
    path = Path(checkpoint)
    if path.is_file():
        return _load_file(path)
    if not path.is_dir():
        raise FileNotFoundError(f'No checkpoint at {path}')
    for name in _PLAIN_FILES:
        if (path / name).is_file():
            return _load_file(path / name)
    if is_deepspeed_checkpoint(path):
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
        tag = (path / 'latest').read_text().strip()
        state = get_fp32_state_dict_from_zero_checkpoint(str(path), tag=tag)
        return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    raise FileNotFoundError(f'{path} holds no model weights (looked for {", ".join(_PLAIN_FILES)} or a '
                            f'DeepSpeed checkpoint)')


def load_model_weights(model: nn.Module, checkpoint: PathLike, *, strict: bool = True) -> nn.Module:
    """Load a checkpoint's weights into ``model`` (tied/shared weights restored by name)."""
    state = load_model_state_dict(checkpoint)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # weights tied to others (LM heads, the table encoder sharing the text BERT) may be saved once
    tied = {name for name in missing if _is_tied(model, name)}
    missing = [name for name in missing if name not in tied]
    if strict and (missing or unexpected):
        raise KeyError(f'Checkpoint {checkpoint} does not match the model: missing {missing[:5]}'
                       f'{"..." if len(missing) > 5 else ""}, unexpected {unexpected[:5]}'
                       f'{"..." if len(unexpected) > 5 else ""}')
    return model


def _is_tied(model: nn.Module, name: str) -> bool:
    """True when parameter ``name`` is the same tensor as another parameter of ``model``."""
    params = dict(model.named_parameters(remove_duplicate=False))
    target = params.get(name)
    return target is not None and any(p is target for n, p in params.items() if n != name)


def save_model_state_dict(state: Dict[str, Tensor], out: PathLike) -> Path:
    """Write a plain state dict (``.safetensors`` by suffix, else ``torch.save``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == '.safetensors':
        from safetensors.torch import save_file
        unique = {}
        seen = {}
        for key, value in state.items():  # safetensors refuses shared storage: keep one copy
            ptr = (value.data_ptr(), value.shape)
            if ptr not in seen:
                seen[ptr] = key
                unique[key] = value.contiguous()
        save_file(unique, str(out))
    else:
        torch.save(state, str(out))
    return out
