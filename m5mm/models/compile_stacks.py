"""``torch.compile`` of a model's transformer stacks (the model-level ``compile=dict(...)`` switch).

Only the stacks are compiled, in place (``nn.Module.compile``): m5mm's
:class:`~m5mm.models.layers.TransformerEncoder` (or a loose
:class:`~m5mm.models.layers.TransformerBlock`), ``transformers`` models and timm-style models.
The encoders' and fusions' Python logic around them (dict inputs, presence checks, masking)
stays eager, so graph breaks and recompilations come from tensor shapes only; parameter and
buffer names do not change (no ``_orig_mod.``), so checkpoints of a compiled model load into an
eager one and back.

Shapes: batches are padded per batch, so the token count N (and the last batch's B) vary.
The default ``dynamic=None`` is torch's automatic dynamic shapes: a stack is compiled for the
first shape, and on the first change of a size recompiled once with that size symbolic; give
``dynamic=True`` to start symbolic, ``dynamic=False`` to specialise on every shape.
"""
from __future__ import annotations

import logging
from typing import Any, List, Mapping, Optional

import torch
from torch import nn

from m5mm.models.layers import TransformerBlock, TransformerEncoder
from .stacks import outermost

logger = logging.getLogger(__name__)


def _is_compile_unit(module: nn.Module) -> bool:
    """A transformer stack compiled as one graph."""
    return isinstance(module, (TransformerEncoder, TransformerBlock)) \
        or callable(getattr(module, 'gradient_checkpointing_enable', None)) \
        or callable(getattr(module, 'set_grad_checkpointing', None))


def compile_unavailable(options: Mapping[str, Any]) -> Optional[str]:
    """Why ``torch.compile(**options)`` cannot run here (None when it can, as far as checkable)."""
    if not torch._dynamo.is_dynamo_supported():
        return 'torch.compile (dynamo) is not supported on this Python/platform'
    backend = options.get('backend', 'inductor')
    if isinstance(backend, str) and backend not in torch._dynamo.list_backends(exclude_tags=()):
        return f'unknown torch.compile backend {backend!r} (known: {torch._dynamo.list_backends()})'
    if backend != 'inductor':
        return None
    if torch.cuda.is_available():
        from torch.utils._triton import has_triton
        if not has_triton():
            return 'the inductor backend needs triton for CUDA (pip install triton)'
    from torch._inductor.cpp_builder import get_cpp_compiler
    try:
        get_cpp_compiler()
    except Exception as exc:  # InvalidCxxCompiler and what the search itself raises
        return f'the inductor backend needs a C++ compiler for CPU code ({type(exc).__name__}: {exc})'
    return None


def compile_stacks(model: nn.Module, options: Optional[Mapping[str, Any]] = None) -> List[str]:
    """Compile ``model``'s transformer stacks in place with ``torch.compile(**options)``.

    Args:
        model: the model (or an encoder, a fusion).
        options: ``torch.compile`` keyword arguments (``mode``, ``backend``, ``dynamic``,
            ``fullgraph``, ``options``).

    Returns:
        The names of the compiled stacks; ``[]`` (with a logged warning naming the reason) when
        the backend cannot run here, and the model stays eager.
    """
    options = dict(options or {})
    reason = compile_unavailable(options)
    if reason is not None:
        logger.warning('compile: %s; the model runs eagerly', reason)
        return []
    units = outermost(model, _is_compile_unit)
    for _, unit in units:
        unit.compile(**options)
    if not units:
        logger.warning('compile: %s has no transformer stacks to compile; it runs eagerly', type(model).__name__)
    return [name for name, _ in units]
