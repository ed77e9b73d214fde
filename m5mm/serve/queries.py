"""Reading a search / embed request (JSON or multipart) into a query, with 4xx errors for bad input.

JSON: ``{"text": "red shoes", "k": 10, "category": "sneakers"}``, ``{"id": "D00012"}`` or
``{"record": {"text": .., "table": [[k, v], ..], "image": {"base64": ..} | "images/a.jpg"}}``;
multipart: ``image=@photo.jpg`` and/or ``text=..``, ``id=..``, ``k=..``, ``category=..``.
Optional parts (per-modality weights, a negative text, attribute filters): :mod:`.query_options`.
A media path inside a JSON record is relative to the catalogue folder and may not leave it. Every
field is checked against the :class:`~m5mm.serve.request_limits.RequestLimits` before anything reads
it: 413 over a limit, 422 for a wrong type or an out-of-range ``k``, 400 for other bad input.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Mapping, Optional

from m5mm.datasets.modalities import ImageModality, TableModality, TextModality

from .errors import BadRequest
from .query_options import QueryOptions, parse_options
from .request_limits import (WRONG_TYPE, RequestLimits, brief, check_base64_size, check_json_items, check_media,
                             check_name, check_table, check_text, too_large)
from .thumbnails import inside_root

__all__ = ['BadRequest', 'Query', 'build_query', 'clean_record', 'parse_k', 'read_query']

JSON_KEYS = ('text', 'id', 'record', 'k', 'category', 'weights', 'negative', 'negative_weight', 'filters')
FORM_KEYS = ('text', 'id', 'k', 'category', 'image', 'text_weight', 'image_weight', 'negative', 'negative_weight')
DEFAULT_K = 10


@dataclass
class Query:
    """One parsed query: a record to embed, or an indexed product's id, and how to form and filter it."""

    record: Optional[Dict[str, Any]]
    product_id: Optional[str]
    k: int
    category: Optional[str]
    options: QueryOptions = field(default_factory=QueryOptions)


def parse_k(value: Any, max_k: int) -> int:
    """``k`` as an int in [1, max_k] (422 otherwise)."""
    if value is None or value == '':
        return min(DEFAULT_K, max_k)
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError
        k = int(value)
        if isinstance(value, float) and k != value:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise BadRequest(f'k must be an integer, got {brief(value)}', status=WRONG_TYPE) from None
    if not 1 <= k <= max_k:
        raise BadRequest(f'k must be between 1 and {max_k} (--max-k), got {brief(k)}', status=WRONG_TYPE)
    return k


def _names(keys: Iterable[Any]) -> str:
    """Unknown field names for a message: sorted, each short, at most ten."""
    names = sorted(brief(key) for key in keys)
    return ', '.join(names[:10]) + (f' and {len(names) - 10} more' if len(names) > 10 else '')


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f'malformed JSON: the number {text[:40]}{"..." if len(text) > 40 else ""} is out of range')
    return value


def _not_a_number(name: str) -> None:
    raise BadRequest(f'malformed JSON: {name} is not a JSON value (use null for a missing one)')


def parse_json(body: bytes, limits: RequestLimits) -> Any:
    """A JSON body of at most ``max_json_items`` values (413); 400 for anything that is not plain, finite
    JSON (``NaN``, ``Infinity``, ``1e400``, an integer of thousands of digits, nesting deeper than the
    parser goes)."""
    check_json_items(body, limits)
    try:
        return json.loads(body, parse_float=_finite, parse_constant=_not_a_number)
    except RecursionError:
        raise BadRequest('malformed JSON: nested too deeply') from None
    except ValueError as exc:   # JSONDecodeError, UnicodeDecodeError, too many digits
        raise BadRequest(f'malformed JSON: {exc}') from None


def _media_value(key: str, spec: Any, value: Any, data_root: str, limits: RequestLimits) -> Any:
    """A JSON record's media field: ``{"base64": ..}`` -> bytes, a catalogue path -> its absolute path."""
    name = f'record.{key}'
    if value is None:
        return None
    if isinstance(value, Mapping) and set(value) == {'base64'} and isinstance(value['base64'], str):
        check_base64_size(value['base64'], name, limits)
        try:
            data = base64.b64decode(value['base64'], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f'{name}.base64 is not valid base64') from None
        return check_media(data, name, limits, image=isinstance(spec, ImageModality) and spec.source == 'raw')
    if isinstance(value, str):
        if len(value) > limits.max_path_chars:
            raise too_large(name, f'is a path of {len(value)} characters', f'{limits.max_path_chars}', 'max_path_chars')
        path = inside_root(data_root, value)
        if path is None:
            raise BadRequest(f'{name}: {brief(value)} is not a file inside the catalogue folder')
        return path
    raise BadRequest(f'{name} must be {{"base64": ...}} or a path inside the catalogue, got {brief(value)}',
                     status=WRONG_TYPE)


def _value_field(key: str, spec: Any, value: Any, limits: RequestLimits) -> Any:
    """A JSON record's value field (text, table, a plugin's), its type and size checked."""
    name = f'record.{key}'
    if value is None:
        return None
    if isinstance(spec, TextModality):
        return check_text(value, name, limits)
    if isinstance(spec, TableModality):
        return check_table(value, name, spec, limits)
    try:
        spec.parse_value(value)
    except ValueError as exc:
        raise BadRequest(f'{name}: {exc}', status=WRONG_TYPE) from None
    return value


def clean_record(record: Any, specs: Mapping[str, Any], data_root: str, limits: RequestLimits) -> Dict[str, Any]:
    """A JSON record restricted to the model's modality fields, each checked, media made safe to read."""
    if not isinstance(record, Mapping):
        raise BadRequest(f'record must be a JSON object, got {brief(record)}', status=WRONG_TYPE)
    fields = {spec.record_field: spec for spec in specs.values()}
    unknown = set(record) - set(fields) - {'id'}
    if unknown:
        raise BadRequest(f'record has unknown fields {_names(unknown)}; the model reads {sorted(fields)}')
    out: Dict[str, Any] = {'id': 'query'}
    for key, value in record.items():
        if key == 'id':
            continue
        spec = fields[key]
        out[key] = (_media_value(key, spec, value, data_root, limits) if spec.reads_path
                    else _value_field(key, spec, value, limits))
    return out


def build_query(*, text: Any = None, product_id: Any = None, record: Any = None, image: Optional[bytes] = None,
                k: Any = None, category: Any = None, weights: Any = None, negative: Any = None,
                negative_weight: Any = None, filters: Any = None, specs: Mapping[str, Any], data_root: str,
                limits: RequestLimits) -> Query:
    """Validate the parts of a request into a :class:`Query`."""
    options = parse_options(weights=weights, negative=negative, negative_weight=negative_weight, filters=filters,
                            modalities=specs, limits=limits)
    text = check_text(text, 'text', limits)
    text = text.strip() or None if text is not None else None
    product_id, category = check_name(product_id, 'id', limits), check_name(category, 'category', limits)
    k = parse_k(k, limits.max_k)
    query_record = clean_record(record, specs, data_root, limits) if record is not None else {}
    if text is not None:
        if 'text' not in specs:
            raise BadRequest(f'this model has no text modality (it reads {list(specs)})')
        query_record['text'] = text
    if image is not None:
        if 'image' not in specs:
            raise BadRequest(f'this model has no image modality (it reads {list(specs)})')
        query_record['image'] = check_media(image, 'image', limits, image=specs['image'].source == 'raw')
    has_content = any(v not in (None, '', [], {}) for key, v in query_record.items() if key != 'id')
    if product_id is not None and has_content:
        raise BadRequest('give either an id or a query (text, image, record), not both')
    if product_id is None and not has_content:
        raise BadRequest('empty query: give a non-empty text, an image, a record or a product id')
    if options.weights is not None:
        if product_id is not None:
            raise BadRequest('weights apply to the modalities of a text / image / record query, not to an id')
        lacking = [m for m in options.weights if query_record.get(specs[m].record_field) in (None, '', [], {})]
        if lacking:
            raise BadRequest(f'weights name modalities the query does not have: {", ".join(lacking)}')
    query_record.setdefault('id', 'query')
    return Query(record=None if product_id is not None else query_record, product_id=product_id, k=k,
                 category=category, options=options)


def json_query(raw: bytes, *, specs: Mapping[str, Any], data_root: str, limits: RequestLimits) -> Query:
    """A JSON request body into a :class:`Query`."""
    body = parse_json(raw, limits)
    if not isinstance(body, dict):
        raise BadRequest(f'the JSON body must be an object, got {brief(body)}')
    unknown = set(body) - set(JSON_KEYS)
    if unknown:
        raise BadRequest(f'unknown fields {_names(unknown)}; accepted: {", ".join(JSON_KEYS)}')
    return build_query(text=body.get('text'), product_id=body.get('id'), record=body.get('record'),
                       k=body.get('k'), category=body.get('category'), weights=body.get('weights'),
                       negative=body.get('negative'), negative_weight=body.get('negative_weight'),
                       filters=body.get('filters'), specs=specs, data_root=data_root, limits=limits)


async def read_query(request, *, specs: Mapping[str, Any], data_root: str, limits: RequestLimits) -> Query:
    """Parse a JSON or multipart request into a :class:`Query` (BadRequest on bad input); the JSON is
    parsed and checked in the thread pool, so a large body does not hold up the event loop."""
    from starlette.concurrency import run_in_threadpool
    content_type = request.headers.get('content-type', '').split(';')[0].strip().lower()
    if content_type == 'application/json':
        raw = await request.body()
        return await run_in_threadpool(json_query, raw, specs=specs, data_root=data_root, limits=limits)
    if content_type == 'multipart/form-data':
        return await _read_form(request, specs=specs, data_root=data_root, limits=limits)
    raise BadRequest('send application/json or multipart/form-data', status=415)


async def _read_form(request, *, specs: Mapping[str, Any], data_root: str, limits: RequestLimits) -> Query:
    from starlette.datastructures import UploadFile
    try:
        form = await request.form(max_files=1, max_fields=len(FORM_KEYS))
    except Exception as exc:  # python-multipart / starlette raise several types for a broken body
        raise BadRequest(f'malformed multipart body: {exc} (a request holds at most one image file and the '
                         f'fields {", ".join(FORM_KEYS[:4])})') from None
    unknown = set(form.keys()) - set(FORM_KEYS)
    if unknown:
        raise BadRequest(f'unknown form fields {_names(unknown)}; accepted: {", ".join(FORM_KEYS)}')
    upload, image = form.get('image'), None
    if isinstance(upload, UploadFile):
        image = await upload.read()
        if not image:
            raise BadRequest('the uploaded image is empty')
    elif upload not in (None, ''):
        raise BadRequest('image must be an uploaded file (multipart image=@photo.jpg)', status=WRONG_TYPE)
    weights = {name: form.get(f'{name}_weight') for name in ('text', 'image')
               if form.get(f'{name}_weight') not in (None, '')}
    return build_query(text=form.get('text'), product_id=form.get('id'), image=image, k=form.get('k'),
                       category=form.get('category'), weights=weights or None, negative=form.get('negative'),
                       negative_weight=form.get('negative_weight'), specs=specs, data_root=data_root,
                       limits=limits)
