"""Giving the parameters no loss depends on a zero gradient (DDP and DeepSpeed need every parameter used)."""
from __future__ import annotations

from typing import Iterable, List, Optional, Set

from torch import Tensor, nn


def reached_parameters(outputs: Iterable[Tensor]) -> Set[int]:
    """The ids of the leaf tensors the autograd graphs of ``outputs`` reach (what a backward would give a
    gradient)."""
    reached: Set[int] = set()
    stack, seen = [], set()
    for out in outputs:
        if out.grad_fn is not None:
            stack.append(out.grad_fn)
        elif out.requires_grad:
            reached.add(id(out))
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        variable = getattr(node, 'variable', None)   # an AccumulateGrad node: its parameter
        if variable is not None:
            reached.add(id(variable))
        stack.extend(nxt for nxt, _ in node.next_functions if nxt is not None)
    return reached


def unused_parameters(module: nn.Module, outputs: Iterable[Tensor]) -> List[nn.Parameter]:
    """The trainable parameters of ``module`` that no graph of ``outputs`` reaches. Parameters sharded by
    FSDP2 (DTensors) are left out: the graph holds their unsharded copies, not them, and FSDP2 needs no
    tie (a parameter without a gradient is simply not reduced)."""
    reached = reached_parameters(outputs)
    return [p for p in module.parameters() if p.requires_grad and id(p) not in reached and not _is_sharded(p)]


def _is_sharded(parameter: Tensor) -> bool:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:   # a torch build without distributed
        return False
    return isinstance(parameter, DTensor)


def tie_unused(module: nn.Module, outputs: Iterable[Tensor]) -> Optional[Tensor]:
    """A 0 (float scalar) that depends on every trainable parameter of ``module`` that ``outputs`` do not;
    added to a loss it gives them a zero gradient. None when every parameter is reached (or there is no
    graph, e.g. under ``torch.no_grad``)."""
    outputs = [o for o in outputs if o.requires_grad]
    if not outputs:
        return None
    unused = unused_parameters(module, outputs)
    if not unused:
        return None
    return 0.0 * sum(p.float().sum() for p in unused)
