"""What of a pretrained backbone trains: everything, nothing (frozen), the last N blocks, or LoRA adapters.

Frozen parameters get ``requires_grad=False`` (the optimizer builder skips them, so they
never get an optimizer slot). LoRA adapters are injected in place with ``peft``
(``inject_adapter_in_model``), so the backbone keeps its class and its forward.
"""
from __future__ import annotations

import logging
from typing import Callable, List, Optional, Tuple

import torch
from torch import nn

from m5mm.utils.require import require

logger = logging.getLogger(__name__)

LORA_KEYS = ('r', 'alpha', 'dropout', 'target_modules')
LORA_MARK = 'lora_'


def freeze(module: nn.Module) -> None:
    """``requires_grad=False`` on every parameter of ``module``."""
    for param in module.parameters():
        param.requires_grad_(False)


def find_blocks(model: nn.Module) -> Tuple[str, nn.ModuleList]:
    """The model's list of transformer (or CNN stage) blocks: of its ``ModuleList``s (and ``Sequential``s of
    two or more modules of one class, as timm's ``blocks``), the one with the most parameters."""
    best, best_size = None, 0
    for name, module in model.named_modules():
        if _is_block_list(module):
            size = sum(p.numel() for p in module.parameters())
            if size > best_size:
                best, best_size = (name, module), size
    if best is None:
        raise ValueError(f'{type(model).__name__} has no list of blocks; trainable_layers cannot be applied '
                         f'(use freeze=True, lora=... or full tuning)')
    return best


def _is_block_list(module: nn.Module) -> bool:
    if isinstance(module, nn.ModuleList):
        return len(module) > 0
    return isinstance(module, nn.Sequential) and len(module) > 1 and len({type(m) for m in module}) == 1


def modules_after(model: nn.Module, path: str) -> List[nn.Module]:
    """The modules registered after the one at ``path`` in each of its ancestors (e.g. the final norm
    that follows the blocks), which run after it in a forward pass."""
    after: List[nn.Module] = []
    parts = path.split('.') if path else []
    parent = model
    for part in parts:
        names = list(parent._modules)
        after += [parent._modules[n] for n in names[names.index(part) + 1:] if parent._modules[n] is not None]
        parent = parent._modules[part]
    return after


def train_last_layers(model: nn.Module, count: int) -> None:
    """Freeze ``model`` except its last ``count`` blocks and what follows them (and parameters held
    directly by the ancestors of the blocks after them are left frozen)."""
    path, blocks = find_blocks(model)
    if not 1 <= count <= len(blocks):
        raise ValueError(f'trainable_layers={count}, but {type(model).__name__} has {len(blocks)} blocks '
                         f'({path}); give 1..{len(blocks)}, or freeze=True')
    freeze(model)
    for module in list(blocks)[-count:] + modules_after(model, path):
        for param in module.parameters():
            param.requires_grad_(True)


def lora_target_modules(model: nn.Module, target_modules):
    """``target_modules`` as given, else peft's default for the model type, else every Linear layer."""
    if target_modules is not None:
        return target_modules
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS
    model_type = getattr(getattr(model, 'config', None), 'model_type', None)
    return DEFAULTS.get(model_type) or 'all-linear'


def add_lora(model: nn.Module, lora: dict) -> nn.Module:
    """Freeze ``model`` and inject LoRA adapters (``lora=dict(r=8, alpha=16, dropout=0.0,
    target_modules=None)``; ``target_modules`` None: peft's default for the model type, else
    every Linear layer). Returns the same module, adapters in place."""
    peft = require('peft', 'pretrained')
    unknown = set(lora) - set(LORA_KEYS)
    if unknown:
        raise ValueError(f'lora has unknown keys {sorted(unknown)}; accepted: {", ".join(LORA_KEYS)}')
    rank = int(lora.get('r', 8))
    freeze(model)
    config = peft.LoraConfig(r=rank, lora_alpha=lora.get('alpha', 2 * rank), lora_dropout=lora.get('dropout', 0.0),
                             target_modules=lora_target_modules(model, lora.get('target_modules')))
    try:
        model = peft.inject_adapter_in_model(config, model)
    except ValueError as exc:  # no module matches target_modules
        raise ValueError(f'LoRA could not be added to {type(model).__name__}: {exc}') from None
    count = sum(1 for name, _ in model.named_parameters() if LORA_MARK in name)
    logger.info('m5mm: LoRA r=%d on %s: %d adapter tensors', rank, type(model).__name__, count)
    return model


def merge_lora(model: nn.Module) -> int:
    """Merge every LoRA adapter of ``model`` into its base layer and remove the adapter; returns how many."""
    from peft.tuners.lora import LoraLayer
    merged = 0
    for name, module in list(model.named_modules()):
        if not isinstance(module, LoraLayer):
            continue
        module.merge()
        parent_name, _, child = name.rpartition('.')
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, module.get_base_layer())
        merged += 1
    return merged


def has_lora(model: nn.Module) -> bool:
    """Whether ``model`` holds LoRA adapters."""
    return any(LORA_MARK in name for name, _ in model.named_parameters())


def freeze_unused(model: nn.Module, run: Callable[[], torch.Tensor], what: str) -> List[str]:
    """Run ``run()`` once (eval mode, backward of its sum) and freeze the trainable parameters of
    ``model`` that got no gradient (a pooler, a norm applied only to the pooled output, ...): they
    would be unused in every step, which DDP and DeepSpeed reject. Returns their names."""
    was_training = model.training
    model.eval()
    try:
        for param in model.parameters():
            param.grad = None
        run().float().sum().backward()
        unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    finally:
        for param in model.parameters():
            param.grad = None
        model.train(was_training)
    for name, param in model.named_parameters():
        if name in unused:
            param.requires_grad_(False)
    if unused:
        logger.info('m5mm: %s: %d parameters its output does not use stay frozen (%s ...)', what, len(unused),
                    ', '.join(unused[:3]))
    return unused


def check_tuning(*, freeze: bool, trainable_layers: Optional[int], lora: Optional[dict]) -> None:
    """Reject combinations of the tuning options that contradict each other."""
    given = [name for name, value in (('freeze=True', freeze), ('trainable_layers', trainable_layers is not None),
                                      ('lora', lora is not None)) if value]
    if len(given) > 1:
        raise ValueError(f'give one of freeze=True, trainable_layers=N, lora=dict(...); got {" and ".join(given)}')
