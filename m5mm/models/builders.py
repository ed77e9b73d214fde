"""Building model parts from a config dict (or taking an already built module), with defaults."""
from __future__ import annotations

import inspect
import logging
import warnings
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from mmengine.registry import Registry
from torch import nn

from m5mm.models.activation_checkpointing import set_grad_checkpointing
from m5mm.models.layers.token_packing import set_token_packing
from m5mm.registry import MODELS
from m5mm.utils.build import find_registered

logger = logging.getLogger(__name__)

#: model-config keys that are switches applied after building, not the model class's arguments
MODEL_SWITCHES = ('grad_checkpointing', 'compile', 'pack_tokens')


def config_class(cfg: Any, registry: Registry) -> Optional[type]:
    """The class a config dict would build (None when it cannot tell)."""
    if not isinstance(cfg, dict):
        return None
    kind = cfg.get('type')
    if isinstance(kind, type):
        return kind
    return find_registered(registry, kind) if isinstance(kind, str) else None


def _names_keyword(cls: type, arg: str) -> Optional[bool]:
    """Follow ``cls.__init__``'s ``**kwargs`` along the MRO: True when a constructor names ``arg``, False
    when one without ``**kwargs`` does not, None when they all pass it on (``nn.Module``, ``object``)."""
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        if arg in params:
            return True
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return False
    return None


def accepts(cls: Optional[type], arg: str) -> bool:
    """Whether ``cls.__init__`` takes the keyword ``arg``: by name, or through ``**kwargs`` that a base
    class's constructor (followed along the MRO) takes by name or swallows."""
    return cls is not None and _names_keyword(cls, arg) is not False


def takes_keyword(cls: Optional[type], arg: str) -> bool:
    """Whether ``cls.__init__`` names the keyword ``arg``, itself or through ``**kwargs`` passed to a base
    class's constructor that names it (``**kwargs`` that only reach ``nn.Module`` / ``object`` do not count)."""
    return cls is not None and _names_keyword(cls, arg) is True


def needed_facts(cls: type, offered: Iterable[str], *, what: str) -> Tuple[str, ...]:
    """The facts of ``offered`` (names a builder can pass) that ``cls`` declares in its ``needs``.

    Each declared fact must be a keyword its constructor takes, and each offered fact its constructor
    takes by name must be declared: a renamed or forgotten argument is an error, never a fact silently
    left out. A class without ``needs`` (None, the m5mm 0.2 protocol) gets the offered facts it takes,
    with a ``FutureWarning``.

    Raises:
        TypeError: a declared fact is not taken, or a taken one is not declared.
    """
    offered = tuple(offered)
    needs = getattr(cls, 'needs', None)
    if needs is None:
        inferred = tuple(f for f in offered if accepts(cls, f))
        if inferred:
            warnings.warn(f'{cls.__name__} declares no `needs`; set `needs = {inferred!r}` (the {what} it takes): '
                          f'inferring them from the constructor is deprecated since m5mm 0.3', FutureWarning,
                          stacklevel=3)
        return inferred
    untaken = [f for f in needs if not takes_keyword(cls, f)]
    if untaken:
        raise TypeError(f'{cls.__name__}.needs declares {untaken} but {cls.__name__}.__init__ takes no such '
                        f'keyword; rename the argument back or update `needs`')
    undeclared = [f for f in offered if f not in needs and takes_keyword(cls, f)]
    if undeclared:
        raise TypeError(f'{cls.__name__}.__init__ takes {undeclared}, which the {what} offer, but '
                        f'{cls.__name__}.needs = {tuple(needs)!r} does not list them; add them to `needs`')
    return tuple(f for f in needs if f in offered)


def build(cfg: Any, registry: Registry, what: str, defaults: Optional[Dict[str, Any]] = None) -> nn.Module:
    """A module from ``cfg`` (a config dict or an already built module).

    ``defaults`` are passed only when the class accepts them and ``cfg`` does not set them.
    ``grad_checkpointing=True`` in ``cfg`` (for a class that does not take it itself) switches on
    activation checkpointing of the built module's transformer stacks
    (:func:`~m5mm.models.activation_checkpointing.set_grad_checkpointing`), ``pack_tokens=True`` its
    token packing (:func:`~m5mm.models.layers.token_packing.set_token_packing`): a nested model
    config (a classifier's ``backbone``) keeps the switches it was written with.
    """
    if isinstance(cfg, nn.Module):
        return cfg
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'{what} must be a config dict with a "type" key or a built nn.Module, got {cfg!r}')
    cls = config_class(cfg, registry)
    switches = {k: bool(cfg[k]) for k in ('grad_checkpointing', 'pack_tokens') if k in cfg and not accepts(cls, k)}
    if switches:
        cfg = {k: v for k, v in cfg.items() if k not in switches}
    default_args = {k: v for k, v in (defaults or {}).items() if k not in cfg and accepts(cls, k)}
    module = registry.build(cfg, default_args=default_args or None)
    if switches.get('grad_checkpointing'):
        set_grad_checkpointing(module)
    if switches.get('pack_tokens'):
        set_token_packing(module)
    return module


def build_model(model_cfg: Mapping[str, Any], data_meta: Optional[dict] = None, *,
                allow_compile: bool = True) -> nn.Module:
    """A model (``MODELS``) from its config, with the model-level switches applied.

    Args:
        model_cfg: the ``model`` config; besides the class's own arguments it may hold
            ``grad_checkpointing=True`` (activation checkpointing of every transformer stack, see
            :func:`~m5mm.models.activation_checkpointing.set_grad_checkpointing`) and ``compile=dict(...)``
            (``torch.compile`` options for the stacks, see
            :func:`~m5mm.models.compile_stacks.compile_stacks`; ``compile=dict()`` for the
            defaults, None or False for none); ``pack_tokens=True`` (m5mm's transformer stacks
            compute only valid tokens and the BERT towers only the samples that have their
            modality: no work on padding and absent modalities, see
            :func:`~m5mm.models.layers.token_packing.set_token_packing`; the paper and small model
            bases set it). ``compile`` turns packing off: its shapes change with every batch.
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
    compiled = options not in (None, False) and allow_compile
    if switches.get('pack_tokens'):
        if compiled:
            logger.info('m5mm: model.compile is set, so token packing stays off (its shapes change with every '
                        'batch; compile wants few shapes: length_buckets / pad_to_multiple)')
        else:
            set_token_packing(model)
    if compiled:
        if not isinstance(options, Mapping):
            raise TypeError(f'model.compile must be a dict of torch.compile options (or None), got {options!r}')
        from m5mm.models.compile_stacks import compile_stacks
        compile_stacks(model, options)
    return model
