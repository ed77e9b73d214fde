"""Activation (gradient) checkpointing of a model's transformer stacks: m5mm's own blocks,
``transformers`` models and any module with timm's ``set_grad_checkpointing(enable)``.

Checkpointing keeps a block's inputs instead of its activations and recomputes them in the
backward pass: about one extra forward of the checkpointed blocks per step for activation memory
that no longer grows with depth. It is always the non-reentrant ``torch.utils.checkpoint`` (works
under DDP, DeepSpeed and FSDP, with parameters that get no gradient in a step, and with inputs
that do not require gradients); the RNG state is restored for the recomputation, so dropout
draws the same masks and a resumed run stays exact.
"""
from __future__ import annotations

import logging
from typing import Callable, List, Tuple

from torch import nn

from m5mm.models.layers import TransformerBlock

logger = logging.getLogger(__name__)


def _is_hf_model(module: nn.Module) -> bool:
    """Whether ``module`` is a ``transformers`` model that supports gradient checkpointing."""
    return callable(getattr(module, 'gradient_checkpointing_enable', None)) \
        and getattr(module, 'supports_gradient_checkpointing', False)


def outermost(module: nn.Module, accept: Callable[[nn.Module], bool]) -> List[Tuple[str, nn.Module]]:
    """``(name, submodule)`` of the submodules ``accept`` takes that are not inside another taken one."""
    taken: List[Tuple[str, nn.Module]] = []
    for name, sub in module.named_modules():
        if any(not done or name.startswith(done + '.') for done, _ in taken):
            continue
        if accept(sub):
            taken.append((name, sub))
    return taken


def _toggle_hf(model: nn.Module, enable: bool) -> None:
    """Switch a ``transformers`` model's own checkpointing (non-reentrant); transformers 5 renamed
    ``gradient_checkpointing_*`` to ``activation_checkpointing_*``."""
    if hasattr(model, 'activation_checkpointing_enable'):
        if enable:
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=dict(use_reentrant=False))
        else:
            model.activation_checkpointing_disable()
    elif enable:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=dict(use_reentrant=False))
    else:
        model.gradient_checkpointing_disable()


def _toggle(module: nn.Module, enable: bool) -> bool:
    """Switch checkpointing of one stack; False when ``module`` is not a stack m5mm knows."""
    if isinstance(module, TransformerBlock):
        module.grad_checkpointing = enable
    elif _is_hf_model(module):
        _toggle_hf(module, enable)
    elif callable(getattr(module, 'set_grad_checkpointing', None)):   # timm, open_clip
        module.set_grad_checkpointing(enable)
    else:
        return False
    return True


def set_grad_checkpointing(module: nn.Module, enable: bool = True) -> List[str]:
    """Switch activation checkpointing of every transformer stack inside ``module``.

    Args:
        module: a model, an encoder or a fusion.
        enable: on (True) or off.

    Returns:
        The names (relative to ``module``) of the stacks switched; a stack inside a switched one
        is left to it. A warning is logged when ``enable`` finds nothing to checkpoint.
    """
    switched = [name for name, _ in outermost(module, lambda sub: _toggle(sub, enable))]
    if enable and not switched:
        logger.warning('grad_checkpointing=True: %s has no transformer blocks to checkpoint; it runs as before',
                       type(module).__name__)
    return switched
