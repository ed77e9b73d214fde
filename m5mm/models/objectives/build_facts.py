"""What a model knows when it builds an objective, and the declared subset each objective takes."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Tuple

from m5mm.models.builders import needed_facts

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
    """``cls.needs``, checked (see :func:`~m5mm.models.builders.needed_facts`; every name must be one of
    :data:`FACT_NAMES`). A class without a declaration gets the facts it accepts, with a ``FutureWarning``.

    Raises:
        TypeError: a declared name is no fact, the constructor does not take it (renamed or removed), or it
            takes a fact it does not declare.
    """
    unknown = [f for f in (getattr(cls, 'needs', None) or ()) if f not in FACT_NAMES]
    if unknown:
        raise TypeError(f'{cls.__name__}.needs = {tuple(cls.needs)!r} names {unknown}, which are no build facts; '
                        f'known: {FACT_NAMES}')
    return needed_facts(cls, FACT_NAMES, what='objective build facts (ObjectiveBuildFacts)')


def fact_kwargs(cls: Optional[type], facts: ObjectiveBuildFacts, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """The declared facts of ``cls`` (see :func:`declared_needs`) that ``cfg`` does not set itself (facts
    that are None are left out)."""
    if cls is None:
        return {}
    return {f: getattr(facts, f) for f in declared_needs(cls) if f not in cfg and getattr(facts, f) is not None}
