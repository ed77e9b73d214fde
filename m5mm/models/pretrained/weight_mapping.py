"""Reading a foreign checkpoint without running code, and renaming its tensors to a model's names by order.

A package's checkpoint is a torch pickle; :func:`read_state_dict` reads it with
``torch.load(..., weights_only=True)`` only (a file holding any other Python object is refused,
nothing in it runs). :func:`map_by_order` pairs its tensors with a model's state dict one by one,
for checkpoints of the same architecture written under other module names.
"""
from __future__ import annotations

from typing import Dict, Mapping, Sequence

from torch import Tensor

#: Buffers left out of the pairing by default: BatchNorm's step counters never change an output.
SKIPPED = ('num_batches_tracked',)


class WeightMappingError(ValueError):
    """A checkpoint whose tensors do not pair one by one with the model's."""


def read_state_dict(path: str) -> Dict[str, Tensor]:
    """The ``{name: tensor}`` of a torch checkpoint, read weights-only (nested ``state_dict`` / ``model`` unwrapped).

    Raises:
        m5mm.checkpoint.safe_load.CheckpointError: a missing or unreadable file, or one holding other Python
            objects (e.g. a planted ``__reduce__`` payload), naming the file; nothing from it runs.
        WeightMappingError: the file holds something else than a mapping of names to tensors.
    """
    from m5mm.checkpoint.safe_load import load_tensor_file
    state = load_tensor_file(path)
    for key in ('state_dict', 'model'):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightMappingError(f'{path}: not a state dict (a mapping of names to tensors), got '
                                 f'{type(state).__name__}')
    return dict(state)


def _kind(name: str) -> str:
    return name.rsplit('.', 1)[-1]


def _kept(state: Mapping[str, Tensor], skip: Sequence[str]) -> list:
    return [(name, value) for name, value in state.items() if _kind(name) not in skip]


def map_by_order(source: Mapping[str, Tensor], target: Mapping[str, Tensor], *, what: str,
                 skip: Sequence[str] = SKIPPED) -> Dict[str, Tensor]:
    """``source``'s tensors under ``target``'s names, paired in order (entries named ``*.<skip>`` left out).

    Each pair must agree in shape and in kind (the last name component: ``weight``, ``bias``,
    ``running_mean``, ...); tensors are cast to the target's dtype.

    Args:
        source: the checkpoint's state dict (its own module names).
        target: the model's ``state_dict()``, in its order.
        what: the checkpoint and model, for error messages (``'efficientnet-lite0 -> tf_efficientnet_lite0'``).

    Raises:
        WeightMappingError: the counts differ, or a pair differs in shape or kind (naming both and the index).
    """
    pairs_from, pairs_to = _kept(source, skip), _kept(target, skip)
    if len(pairs_from) != len(pairs_to):
        raise WeightMappingError(f'{what}: the checkpoint has {len(pairs_from)} tensors, the model '
                                 f'{len(pairs_to)}; not the same architecture')
    out = {}
    for index, ((src_name, src), (dst_name, dst)) in enumerate(zip(pairs_from, pairs_to)):
        if tuple(src.shape) != tuple(dst.shape) or _kind(src_name) != _kind(dst_name):
            raise WeightMappingError(f'{what}: tensor {index} of the checkpoint, {src_name} {tuple(src.shape)}, '
                                     f'does not fit the model\'s {dst_name} {tuple(dst.shape)}; not the same '
                                     f'architecture (or not the same order)')
        out[dst_name] = src.to(dst.dtype)
    return out
