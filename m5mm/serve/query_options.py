"""The optional parts of a search request: per-modality weights, a negative text, attribute filters.

JSON::

    {"text": "teapot", "image": ..., "weights": {"text": 0.7, "image": 0.3},
     "negative": "red", "negative_weight": 0.5, "filters": {"price": {"lt": 50}}}

multipart: ``text_weight=0.7``, ``image_weight=0.3``, ``negative=red``, ``negative_weight=0.5``
(filters are JSON only). Each value is checked here (422 for a wrong type or range); whether a filter
names a known attribute is checked by the vector database that applies it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

from .errors import BadRequest
from .request_limits import WRONG_TYPE, RequestLimits, brief, check_name, check_text

MAX_WEIGHT = 10.0
MAX_NEGATIVE_WEIGHT = 2.0
DEFAULT_NEGATIVE_WEIGHT = 0.5
FILTER_OPS = ('lt', 'lte', 'gt', 'gte', 'eq')
MAX_FILTERS = 16


@dataclass
class QueryOptions:
    """How a query's vector is formed and which products it may return.

    Attributes:
        weights: modality -> weight: the named modalities are embedded one at a time and their vectors
            summed with these weights (None: the record is embedded as one product, its modalities fused
            by the model).
        negative: a text whose vector is subtracted ("like this, but not red"). negative_weight: its weight.
        filters: attribute -> {op: number} with op in :data:`FILTER_OPS` (``eq`` may take a text; needs a vector
            database).
    """

    weights: Optional[Dict[str, float]] = None
    negative: Optional[str] = None
    negative_weight: float = DEFAULT_NEGATIVE_WEIGHT
    filters: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    @property
    def combines(self) -> bool:
        """Whether the query vector is a combination of several embedded parts."""
        return self.weights is not None or self.negative is not None


def _number(value: Any, name: str, low: float, high: float) -> float:
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise BadRequest(f'{name} must be a number, got {brief(value)}', status=WRONG_TYPE) from None
    if not (math.isfinite(number) and low <= number <= high):
        raise BadRequest(f'{name} must be between {low:g} and {high:g}, got {brief(value)}', status=WRONG_TYPE)
    return number


def parse_weights(weights: Any, modalities: Mapping[str, Any]) -> Optional[Dict[str, float]]:
    """``{modality: weight}`` (each in [0, MAX_WEIGHT], not all zero), or None."""
    if weights is None:
        return None
    if not isinstance(weights, Mapping) or not weights:
        raise BadRequest(f'weights must be an object {{modality: number}}, got {brief(weights)}', status=WRONG_TYPE)
    unknown = [brief(name) for name in weights if name not in modalities]
    if unknown:
        raise BadRequest(f'weights name unknown modalities {", ".join(sorted(unknown))}; the model reads '
                         f'{list(modalities)}')
    out = {name: _number(value, f'weights.{name}', 0.0, MAX_WEIGHT) for name, value in weights.items()}
    if not any(out.values()):
        raise BadRequest('weights are all zero', status=WRONG_TYPE)
    return out


def parse_filters(filters: Any, limits: RequestLimits) -> Dict[str, Dict[str, Any]]:
    """``{attribute: {op: number}}`` checked for shape, ops and finite numbers."""
    if filters is None:
        return {}
    if not isinstance(filters, Mapping) or len(filters) > MAX_FILTERS:
        raise BadRequest(f'filters must be an object of at most {MAX_FILTERS} attributes {{name: {{op: number}}}}, '
                         f'got {brief(filters)}', status=WRONG_TYPE)
    out: Dict[str, Dict[str, Any]] = {}
    for name, condition in filters.items():
        check_name(name, 'filters key', limits)
        if not isinstance(condition, Mapping) or not condition or set(condition) - set(FILTER_OPS):
            raise BadRequest(f'filters.{brief(name)} must be an object with keys from {list(FILTER_OPS)}, got '
                             f'{brief(condition)}', status=WRONG_TYPE)
        out[name] = {op: (check_name(value, f'filters.{brief(name)}.eq', limits)
                          if op == 'eq' and isinstance(value, str) else
                          _number(value, f'filters.{brief(name)}.{op}', -1e300, 1e300))
                     for op, value in condition.items()}
    return out


def parse_options(*, weights: Any = None, negative: Any = None, negative_weight: Any = None, filters: Any = None,
                  modalities: Mapping[str, Any], limits: RequestLimits) -> QueryOptions:
    """The :class:`QueryOptions` of a request's fields."""
    negative = check_text(negative, 'negative', limits)
    negative = negative.strip() or None if negative is not None else None
    if negative is not None and 'text' not in modalities:
        raise BadRequest(f'negative needs a text modality; this model reads {list(modalities)}')
    weight = (DEFAULT_NEGATIVE_WEIGHT if negative_weight in (None, '') else
              _number(negative_weight, 'negative_weight', 0.0, MAX_NEGATIVE_WEIGHT))
    return QueryOptions(weights=parse_weights(weights, modalities), negative=negative, negative_weight=weight,
                        filters=parse_filters(filters, limits))
