"""Reading model weights out of any m5mm checkpoint or weights file, without running code.

:func:`load_model_state_dict` / :func:`load_model_weights` are the one way m5mm reads model
weights: from a training checkpoint (``model.safetensors``; DeepSpeed ZeRO folders merged into
one fp32 state dict with DeepSpeed's ``zero_to_fp32`` under :func:`deepspeed_weights_only`;
``pytorch_model.bin`` of checkpoints written before format 2), or from a ``.safetensors`` /
``.pt`` / ``.bin`` file. Torch files are read weights-only; a file holding anything else is a
:class:`~m5mm.checkpoint.safe_load.CheckpointError`, and so is a checkpoint file whose size or sha256
differs from what its checkpoint's ``meta.json`` recorded (:mod:`m5mm.checkpoint.integrity`).

Tied weights (an LM head sharing the token embedding, the table encoder sharing the text BERT)
are stored once in safetensors files; the file's metadata maps each tied name to the stored one
and loading restores every name.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from m5mm.checkpoint.integrity import META_FILE, read_meta, verify_files, verify_in_checkpoint
from m5mm.checkpoint.safe_load import CheckpointError, deepspeed_weights_only, load_tensor_file

PathLike = Union[str, Path]
MODEL_FILE = 'model.safetensors'
_LEGACY_FILE = 'pytorch_model.bin'   # checkpoints of format 1 (read weights-only)
TIED_KEY = 'm5mm_tied'               # safetensors metadata: {tied name: stored name}


def _stored_once(state: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], Optional[Dict[str, str]]]:
    """The tensors of ``state`` to store (each shared tensor once) and the metadata naming the ties."""
    unique: Dict[str, Tensor] = {}
    tied: Dict[str, str] = {}
    seen: Dict[Tuple, str] = {}
    storages = set()
    for name, value in state.items():
        value = value.detach()
        key = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape),
               tuple(value.stride()), value.dtype)
        if key in seen:
            tied[name] = seen[key]
            continue
        seen[key] = name
        storage = value.untyped_storage().data_ptr()
        shared = storage in storages and value.numel() > 0   # another view of a stored tensor: copy it
        storages.add(storage)
        unique[name] = value.clone().contiguous() if shared else value.contiguous()
    return unique, {TIED_KEY: json.dumps(tied)} if tied else None


def save_safetensors(state: Dict[str, Tensor], path: PathLike) -> Path:
    """Write ``state`` as safetensors, each shared tensor once (the ties go to the metadata)."""
    from safetensors.torch import save_file
    unique, metadata = _stored_once(state)
    save_file(unique, str(path), metadata=metadata)
    return Path(path)


def safetensors_bytes(state: Dict[str, Tensor]) -> bytes:
    """The bytes :func:`save_safetensors` would write (so a caller can hash them as it writes them)."""
    from safetensors.torch import save
    unique, metadata = _stored_once(state)
    return save(unique, metadata=metadata)


def load_safetensors(path: PathLike) -> Dict[str, Tensor]:
    """A state dict from a safetensors file, tied names restored (sharing the stored tensor)."""
    from safetensors import safe_open
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'{path}: missing')
    try:
        with safe_open(str(path), framework='pt', device='cpu') as handle:
            state = {name: handle.get_tensor(name) for name in handle.keys()}
            metadata = handle.metadata() or {}
        tied = json.loads(metadata.get(TIED_KEY, '{}'))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for damaged files
        raise CheckpointError(f'{path}: not a readable safetensors file ({str(exc)[:300]})') from None
    for name, stored in tied.items():
        if stored not in state:
            raise CheckpointError(f'{path}: tied weight {name!r} points at {stored!r}, which the file lacks')
        state[name] = state[stored]
    return state


def _load_file(path: Path) -> Dict[str, Tensor]:
    verify_in_checkpoint(path)   # size and sha256 that the checkpoint's meta.json recorded, if it lists the file
    if path.suffix == '.safetensors':
        return load_safetensors(path)
    state = load_tensor_file(path)
    if isinstance(state, dict) and 'state_dict' in state and isinstance(state['state_dict'], dict):
        state = state['state_dict']
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f'{path}: not a state dict of tensors')
    return state


def is_deepspeed_checkpoint(path: PathLike) -> bool:
    """True for a directory written by DeepSpeed's ``save_checkpoint`` (a ``latest`` tag and its folder)."""
    path = Path(path)
    if not (path / 'latest').is_file():
        return False
    tag = (path / 'latest').read_text(errors='replace').strip()
    return bool(tag) and '/' not in tag and (path / tag).is_dir()


def _load_deepspeed(path: Path) -> Dict[str, Tensor]:
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
    tag = (path / 'latest').read_text().strip()
    if (path / META_FILE).is_file():
        meta = read_meta(path)
        verify_files(path, meta, [name for name in meta.get('files') or {} if name.startswith(f'{tag}/')])
    try:
        with deepspeed_weights_only():
            state = get_fp32_state_dict_from_zero_checkpoint(str(path), tag=tag)
    except CheckpointError:
        raise
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f'{path}: DeepSpeed could not merge its ZeRO checkpoint {tag!r} ({exc})') from None
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_model_state_dict(checkpoint: PathLike) -> Dict[str, Tensor]:
    """The model's fp32 state dict from a checkpoint directory or a weights file.

    Args:
        checkpoint: a training checkpoint directory (plain or DeepSpeed), or a file
            (``.safetensors``/``.pt``/``.pth``/``.bin``, e.g. from ``tools/convert_checkpoint.py``).

    Raises:
        CheckpointError: the weights cannot be read (or hold objects other than tensors).
    """
    path = Path(checkpoint)
    if path.is_file():
        return _load_file(path)
    if not path.is_dir():
        raise FileNotFoundError(f'No checkpoint at {path}')
    for name in (MODEL_FILE, _LEGACY_FILE):
        if (path / name).is_file():
            return _load_file(path / name)
    if is_deepspeed_checkpoint(path):
        return _load_deepspeed(path)
    raise FileNotFoundError(f'{path} holds no model weights (looked for {MODEL_FILE}, {_LEGACY_FILE} or a '
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
    """Write a plain state dict (``.safetensors`` by suffix, ties kept once; else ``torch.save``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == '.safetensors':
        return save_safetensors(state, out)
    torch.save(state, str(out))
    return out
