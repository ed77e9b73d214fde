"""What a model knows when it builds an objective, and the declared subset each objective takes."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple

from m5mm.models.builders import accepts

if TYPE_CHECKING:
    from m5mm.models.backbones import MultiModalBackbone


@dataclass(frozen=True)
class ObjectiveBuildFacts:
    """The build-time facts an objective may declare in its ``needs`` (besides ``name``, which every
    objective gets).

    Attributes:
        backbone: the built :class:`~m5mm.models.backbones.MultiModalBackbone` (to size and tie heads;
            do not store it).
        data_meta: the dataset's ``meta`` (``tokenizer`` ids, ``num_categories``, ``inputs``), or None.
        mask_ratio: the model's masking ratio for objectives that take one (None: leave their default).
    """

    backbone: 'MultiModalBackbone'
    data_meta: Optional[Mapping[str, Any]] = None
    mask_ratio: Optional[float] = None


#: the names an objective's ``needs`` may list
FACT_NAMES: Tuple[str, ...] = tuple(f.name for f in fields(ObjectiveBuildFacts))


def declared_needs(cls: type) -> Tuple[str, ...]:
    """``cls.needs``, checked: every name is a fact and a keyword ``cls.__init__`` takes.

    A class without a declaration (``needs = None``, the 0.2 protocol) gets the facts its ``__init__``
    accepts, with a ``FutureWarning``.

    Raises:
        TypeError: a declared name is no fact, or the constructor does not take it (renamed or removed).
    """
    needs = getattr(cls, 'needs', None)
    if needs is None:
        inferred = tuple(f for f in FACT_NAMES if accepts(cls, f))
        warnings.warn(f'{cls.__name__} declares no `needs`; set `needs = {inferred!r}` (the build facts it takes, '
                      f'see m5mm.models.objectives.ObjectiveBuildFacts): inferring them from the constructor is '
                      f'deprecated since m5mm 0.3', FutureWarning, stacklevel=3)
        return inferred
    unknown = [f for f in needs if f not in FACT_NAMES]
    if unknown:
        raise TypeError(f'{cls.__name__}.needs = {tuple(needs)!r} names {unknown}, which are no build facts; '
                        f'known: {FACT_NAMES}')
    untaken = [f for f in needs if not accepts(cls, f)]
    if untaken:
        raise TypeError(f'{cls.__name__}.needs declares {untaken} but {cls.__name__}.__init__ takes no such '
                        f'keyword; rename the argument back or update `needs`')
    return tuple(needs)


def fact_kwargs(cls: Optional[type], facts: ObjectiveBuildFacts, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """The declared facts of ``cls`` (see :func:`declared_needs`) that ``cfg`` does not set itself (facts
    that are None are left out)."""
    if cls is None:
        return {}
    return {f: getattr(facts, f) for f in declared_needs(cls) if f not in cfg and getattr(facts, f) is not None}
