"""Full (unsharded) model and optimizer state of an FSDP2-sharded model, for format-2 checkpoints.

FSDP2 (``fully_shard``) keeps every parameter as a ``DTensor`` shard. A checkpoint gathers the
full state on every process (a collective: all processes call :func:`gather_full_state`) and
process 0 writes it as ``model.safetensors`` and a weights-only ``optimizer.pt`` - the same files
as a DDP run, so an FSDP checkpoint resumes under FSDP, loads into a single process or DDP
(``load_from``), and exports like any other. Each process reads the files back and keeps its own
shard (:func:`load_full_state`).

Why not ``torch.distributed.checkpoint`` (DCP) sharded files: DCP's ``.metadata`` file is a
pickle, and m5mm loads nothing that can run code. The cost of gathering is the full state in
CPU memory on each process while saving and loading (a 1 B-parameter model with AdamW: about
12 GB in float32), and process 0 writing it alone.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

from torch import nn

StateDict = Dict[str, Any]


def _options():
    from torch.distributed.checkpoint.state_dict import StateDictOptions
    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def is_fsdp2(model: nn.Module) -> bool:
    """Whether ``model`` (or a part of it) is sharded by FSDP2's ``fully_shard``."""
    from torch.distributed.fsdp import FSDPModule
    return any(isinstance(module, FSDPModule) for module in model.modules())


def gather_full_state(model: nn.Module, optimizer) -> Tuple[StateDict, StateDict]:
    """The full model and optimizer state dicts (CPU tensors; optimizer state keyed by parameter
    name). A collective: every process must call it."""
    from torch.distributed.checkpoint.state_dict import get_state_dict
    return get_state_dict(model, optimizer, options=_options())


def load_full_state(model: nn.Module, optimizer, model_state: StateDict, optimizer_state: StateDict) -> None:
    """Load full state dicts (as :func:`gather_full_state` returns them) into the sharded model and
    its optimizer; each process keeps its shard. A collective.

    The model's shards are cut locally from the full tensors (every process has read them), which
    also covers shared modules (a name and its aliases); the optimizer's go through
    ``set_optimizer_state_dict``.
    """
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict
    model.load_state_dict(shard_like(model.state_dict(), model_state), strict=True)
    set_optimizer_state_dict(model, optimizer, optimizer_state, options=_options())


def shard_like(current: StateDict, full: StateDict) -> StateDict:
    """``full``'s tensors cut into the shards (``DTensor`` placements) of ``current``'s, without
    communication; names ``current`` lacks are kept for ``load_state_dict`` to report."""
    from torch.distributed.tensor import DTensor, distribute_tensor
    out = dict(full)
    for name, value in current.items():
        if isinstance(value, DTensor) and name in full:
            out[name] = distribute_tensor(full[name].to(value.device, value.dtype), value.device_mesh,
                                          value.placements, src_data_rank=None)
    return out
