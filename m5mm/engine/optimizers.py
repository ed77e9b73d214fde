"""Optimizer and scheduler construction with SCALE's parameter groups.

Groups: no weight decay on biases, norms and embeddings' position tables (``no_decay``), and a
lower learning rate for pretrained weights: a module exposing ``pretrained_prefixes`` (e.g.
``['backbone.']`` on a text encoder loaded from a pretrained folder) gets
``lr * pretrained_lr_mult`` for the parameters under those prefixes.
"""
from __future__ import annotations

import inspect
from typing import Dict, List, Optional

import mmengine.optim  # noqa: F401  (registers torch's optimizers into the parent registry)
from torch import nn
from torch.optim import Optimizer

from m5mm.models.builders import accepts
from m5mm.registry import OPTIMIZERS, SCHEDULERS
from m5mm.utils.accelerator import launched_with_fsdp
from m5mm.utils.build import find_registered


def _pretrained_names(model: nn.Module) -> set:
    names = set()
    for module_name, module in model.named_modules():
        for prefix in getattr(module, 'pretrained_prefixes', ()):
            full = f'{module_name}.{prefix}' if module_name else prefix
            names.update(n for n, _ in model.named_parameters() if n.startswith(full))
    return names


def _is_no_decay(name: str, param: nn.Parameter, module_types: Dict[str, type]) -> bool:
    owner = module_types.get(name.rsplit('.', 1)[0]) if '.' in name else None
    return (param.ndim <= 1 or name.endswith('.bias') or 'pos_embed' in name or 'position' in name
            or (owner is not None and issubclass(owner, (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm2d))))


def param_groups(model: nn.Module, *, lr: float, weight_decay: float, pretrained_lr_mult: float = 1.0,
                 decay_norm_and_bias: bool = False) -> List[dict]:
    """Split trainable parameters into (decay?, pretrained?) groups."""
    pretrained = _pretrained_names(model)
    module_types = {name: type(m) for name, m in model.named_modules()}
    groups: Dict[tuple, dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = not decay_norm_and_bias and _is_no_decay(name, param, module_types)
        is_pretrained = name in pretrained
        key = (no_decay, is_pretrained)
        if key not in groups:
            groups[key] = dict(params=[], names=[], weight_decay=0.0 if no_decay else weight_decay,
                               lr=lr * (pretrained_lr_mult if is_pretrained else 1.0))
        groups[key]['params'].append(param)
        groups[key]['names'].append(name)
    return [groups[key] for key in sorted(groups)]


def build_optimizer(model: nn.Module, optim_cfg: dict) -> Optimizer:
    """Build the optimizer of ``optim_cfg['optimizer']`` over SCALE's parameter groups.

    Args:
        optim_cfg: ``dict(optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.01),
            pretrained_lr_mult=0.1, decay_norm_and_bias=False, ...)``.
    """
    opt_cfg = dict(optim_cfg['optimizer'])
    groups = param_groups(model, lr=opt_cfg['lr'], weight_decay=opt_cfg.get('weight_decay', 0.0),
                          pretrained_lr_mult=optim_cfg.get('pretrained_lr_mult', 1.0),
                          decay_norm_and_bias=optim_cfg.get('decay_norm_and_bias', False))
    for group in groups:
        group.pop('names')
    return OPTIMIZERS.build(opt_cfg, default_args=dict(params=groups, **_fused_default(opt_cfg, model)))


def _fused_default(opt_cfg: dict, model: nn.Module) -> dict:
    """``fused=True`` for a torch optimizer with a fused kernel (Adam, AdamW, SGD, ...) when the config
    picks no implementation (``fused`` / ``foreach``), every parameter is on a CPU or CUDA device and the
    run is not FSDP (whose DTensor parameters keep torch's default implementation).
    The fused AdamW step of the 6.1 M-parameter ``clip_2mod`` model takes 9.9 ms on 2 CPU cores
    against 34.4 ms for the per-tensor loop (updates equal within 3e-8)."""
    if 'fused' in opt_cfg or 'foreach' in opt_cfg or not isinstance(opt_cfg.get('type'), str) \
            or launched_with_fsdp():
        return {}
    cls = find_registered(OPTIMIZERS, opt_cfg['type'])
    if cls is None or not accepts(cls, 'fused') or not issubclass(cls, Optimizer):
        return {}
    if any(p.device.type not in ('cpu', 'cuda') or not p.is_floating_point() for p in model.parameters()):
        return {}
    return {'fused': True}


def build_scheduler(optimizer: Optimizer, scheduler_cfg: Optional[dict], *, total_steps: int):
    """Build the scheduler; ``total_steps`` is passed to schedulers that accept it."""
    if scheduler_cfg is None:
        scheduler_cfg = dict(type='WarmupLinearDecayLR', warmup_ratio=0.0, min_ratio=1.0)
    cfg = dict(scheduler_cfg)
    cls = find_registered(SCHEDULERS, cfg['type']) if isinstance(cfg.get('type'), str) else cfg.get('type')
    if cls is not None and 'total_steps' in inspect.signature(cls.__init__).parameters:
        cfg.setdefault('total_steps', total_steps)
    return SCHEDULERS.build(cfg, default_args=dict(optimizer=optimizer))
