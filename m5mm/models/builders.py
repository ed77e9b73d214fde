"""Building model parts from a config dict (or taking an already built module), with defaults."""
from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, Optional

from mmengine.registry import Registry
from torch import nn

from m5mm.models.stacks import set_grad_checkpointing
from m5mm.registry import MODELS
from m5mm.utils.build import find_registered

#: model-config keys that are switches applied after building, not the model class's arguments
MODEL_SWITCHES = ('grad_checkpointing', 'compile')


def config_class(cfg: Any, registry: Registry) -> Optional[type]:
    """The class a config dict would build (None when it cannot tell)."""
    if not isinstance(cfg, dict):
        return None
    kind = cfg.get('type')
    if isinstance(kind, type):
        return kind
    return find_registered(registry, kind) if isinstance(kind, str) else None


def accepts(cls: Optional[type], arg: str) -> bool:
    """Whether ``cls.__init__`` takes the keyword ``arg``: by name, or through ``**kwargs`` that a base
    class's constructor (followed along the MRO) takes by name or swallows."""
    if cls is None:
        return False
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        if arg in params:
            return True
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return False
    return True


def build(cfg: Any, registry: Registry, what: str, defaults: Optional[Dict[str, Any]] = None) -> nn.Module:
    """A module from ``cfg`` (a config dict or an already built module).

    ``defaults`` are passed only when the class accepts them and ``cfg`` does not set them.
    ``grad_checkpointing=True`` in ``cfg`` (for a class that does not take it itself) switches on
    activation checkpointing of the built module's transformer stacks
    (:func:`~m5mm.models.stacks.set_grad_checkpointing`).
    """
    if isinstance(cfg, nn.Module):
        return cfg
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'{what} must be a config dict with a "type" key or a built nn.Module, got {cfg!r}')
    cls = config_class(cfg, registry)
    checkpointed = False
    if 'grad_checkpointing' in cfg and not accepts(cls, 'grad_checkpointing'):
        cfg = dict(cfg)
        checkpointed = bool(cfg.pop('grad_checkpointing'))
    default_args = {k: v for k, v in (defaults or {}).items() if k not in cfg and accepts(cls, k)}
    module = registry.build(cfg, default_args=default_args or None)
    if checkpointed:
        set_grad_checkpointing(module)
    return module


def build_model(model_cfg: Mapping[str, Any], data_meta: Optional[dict] = None, *,
                allow_compile: bool = True) -> nn.Module:
    """A model (``MODELS``) from its config, with the model-level switches applied.

    Args:
        model_cfg: the ``model`` config; besides the class's own arguments it may hold
            ``grad_checkpointing=True`` (activation checkpointing of every transformer stack, see
            :func:`~m5mm.models.stacks.set_grad_checkpointing`) and ``compile=dict(...)``
            (``torch.compile`` options for the stacks, see
            :func:`~m5mm.models.compile_stacks.compile_stacks`; ``compile=dict()`` for the
            defaults, None or False for none).
        data_meta: the dataset's ``meta`` (tokenizer ids, classes).
        allow_compile: False builds the model eagerly whatever the config says (counting
            parameters, converting weights).
    """
    cfg = dict(model_cfg)
    cls = config_class(cfg, MODELS)
    switches = {k: cfg.pop(k) for k in MODEL_SWITCHES if k in cfg and not accepts(cls, k)}
    model = MODELS.build(cfg, default_args=dict(data_meta=data_meta))
    if switches.get('grad_checkpointing'):
        set_grad_checkpointing(model)
    options = switches.get('compile')
    if options not in (None, False) and allow_compile:
        if not isinstance(options, Mapping):
            raise TypeError(f'model.compile must be a dict of torch.compile options (or None), got {options!r}')
        from m5mm.models.compile_stacks import compile_stacks
        compile_stacks(model, options)
    return model
