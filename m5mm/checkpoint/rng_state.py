"""Saving and restoring every random number generator of a process, without pickles.

Per process ``rank``: ``rng_<rank>.safetensors`` holds the torch generator states as uint8
tensors (``torch_cpu``, ``torch_cuda_<i>``); ``rng_<rank>.json`` holds Python's ``random`` and
NumPy's legacy global generator as JSON. Restoring fails (naming the file) rather than
continuing with other random streams than the interrupted run.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from m5mm.checkpoint.safe_load import CheckpointError, read_json
from m5mm.utils.files import write_json


def rng_files(rank: int) -> List[str]:
    """The file names of process ``rank``'s random states."""
    return [f'rng_{rank}.safetensors', f'rng_{rank}.json']


def save_rng_state(folder: Path, rank: int) -> List[Path]:
    """Write this process's generator states into ``folder``; returns the files written."""
    from safetensors.torch import save_file
    tensors = {'torch_cpu': torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f'torch_cuda_{i}': s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(python=dict(version=version, state=list(internal), gauss_next=gauss),
                 numpy=dict(kind=kind, keys=keys.tolist(), pos=int(pos), has_gauss=int(has_gauss),
                            cached_gaussian=float(cached)))
    tensor_file, json_file = (Path(folder) / name for name in rng_files(rank))
    save_file(tensors, str(tensor_file))
    write_json(json_file, state)
    return [tensor_file, json_file]


def read_rng_state(folder: Path, rank: int) -> dict:
    """Read (not yet apply) process ``rank``'s generator states; :class:`CheckpointError` naming a bad file."""
    from safetensors.torch import load_file
    tensor_file, json_file = (Path(folder) / name for name in rng_files(rank))
    if not tensor_file.is_file():
        raise CheckpointError(f'{tensor_file}: missing (random states of process {rank})')
    try:
        tensors = load_file(str(tensor_file))
    except Exception as exc:  # noqa: BLE001 - safetensors' own error types
        raise CheckpointError(f'{tensor_file}: not a readable safetensors file ({str(exc)[:200]})') from None
    state = read_json(json_file)
    try:
        python, numpy_state = state['python'], state['numpy']
        cuda = sorted((k for k in tensors if k.startswith('torch_cuda_')), key=lambda k: int(k.rsplit('_', 1)[1]))
        parsed = dict(torch_cpu=tensors['torch_cpu'], torch_cuda=[tensors[k] for k in cuda],
                      python=(int(python['version']), tuple(int(v) for v in python['state']), python['gauss_next']),
                      numpy=(str(numpy_state['kind']), np.asarray(numpy_state['keys'], dtype=np.uint32),
                             int(numpy_state['pos']), int(numpy_state['has_gauss']),
                             float(numpy_state['cached_gaussian'])))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f'{json_file}: malformed random state ({exc!r})') from None
    if parsed['torch_cuda'] and (not torch.cuda.is_available()
                                 or torch.cuda.device_count() != len(parsed['torch_cuda'])):
        raise CheckpointError(f'{tensor_file}: holds the random states of {len(parsed["torch_cuda"])} GPUs, but '
                              f'this process sees {torch.cuda.device_count() if torch.cuda.is_available() else 0}')
    return parsed


def apply_rng_state(state: Dict, where: str) -> None:
    """Set every generator from :func:`read_rng_state`'s result (``where`` names the files in errors)."""
    try:
        random.setstate(state['python'])
        np.random.set_state(state['numpy'])
        torch.set_rng_state(state['torch_cpu'])
        if state['torch_cuda']:
            torch.cuda.set_rng_state_all(state['torch_cuda'])
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f'{where}: random states cannot be restored ({exc})') from None
