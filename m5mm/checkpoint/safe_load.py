"""Reading checkpoint files without running code: JSON, safetensors and weights-only torch files.

A torch file is a pickle, and unpickling can run any code the file names. m5mm reads every
torch file with ``torch.load(..., weights_only=True)`` (tensors, numbers, strings and plain
containers only); anything else is a :class:`CheckpointError` that names the file.

DeepSpeed's own loaders (``DeepSpeedEngine.load_checkpoint``, ``zero_to_fp32``) call
``torch.load(..., weights_only=False)``. :func:`deepspeed_weights_only` makes those calls
weights-only for the duration of a block, allowing the few DeepSpeed classes its files hold
(:func:`deepspeed_safe_globals`): a DeepSpeed folder with a planted pickle is refused, not run.
"""
from __future__ import annotations

import contextlib
import pickle
from pathlib import Path
from typing import Any, Iterator, List, Sequence, Union

import torch

from m5mm.utils import files

PathLike = Union[str, Path]
_TORCH_LOAD = torch.load   # the real loader, kept while :func:`deepspeed_weights_only` replaces ``torch.load``


class CheckpointError(ValueError):
    """A checkpoint file that cannot be restored: missing, damaged, or holding objects m5mm refuses to load."""


def refusal_message(path: Any, exc: Exception) -> str:
    """Why a weights-only load of ``path`` failed, for the user."""
    return (f'{path}: m5mm refuses to load this file: it holds Python objects other than tensors and plain '
            f'values, which unpickling would create by running code (a damaged or tampered file, or one not '
            f'written by m5mm). Nothing from it was run. Detail: {str(exc).splitlines()[0][:300]}')


def read_json(path: PathLike) -> Any:
    """The JSON value in ``path``; :class:`CheckpointError` naming the file when it is missing or invalid."""
    return files.read_json(path, error=CheckpointError)


def load_tensor_file(path: PathLike, *, map_location: Any = 'cpu', safe_globals: Sequence[type] = ()) -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file.

    Args:
        safe_globals: extra classes the file may hold (e.g. :func:`deepspeed_safe_globals`).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'{path}: missing')
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return _TORCH_LOAD(str(path), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(refusal_message(path, exc)) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f'{path}: unreadable torch file ({str(exc).splitlines()[0][:300]})') from None


def deepspeed_safe_globals() -> List[type]:
    """The DeepSpeed classes its ZeRO checkpoint files hold besides tensors (checked on 0.19: ZeRO-2/3)."""
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address
    return [LossScaler, DynamicLossScaler, ZeroStageEnum, fragment_address]


@contextlib.contextmanager
def deepspeed_weights_only() -> Iterator[None]:
    """Within the block every ``torch.load`` is weights-only (with :func:`deepspeed_safe_globals`).

    DeepSpeed reads its files with ``torch.load(..., weights_only=False)`` in several places; this
    replaces ``torch.load`` for the block (and restores it after), so none of them can unpickle code.
    """
    allowed = deepspeed_safe_globals()

    def weights_only_load(f, *args, **kwargs):
        kwargs['weights_only'] = True
        kwargs.pop('pickle_module', None)
        try:
            with torch.serialization.safe_globals(allowed):
                return _TORCH_LOAD(f, *args, **kwargs)
        except pickle.UnpicklingError as exc:
            raise CheckpointError(refusal_message(f, exc)) from None

    torch.load = weights_only_load
    try:
        yield
    finally:
        torch.load = _TORCH_LOAD
