"""Reading a search / embed request (JSON or multipart) into a query, with 4xx errors for bad input.

JSON: ``{"text": "red shoes", "k": 10, "category": "sneakers"}``, ``{"id": "D00012"}`` or
``{"record": {"text": .., "table": [[k, v], ..], "image": {"base64": ..} | "images/a.jpg"}}``;
multipart: ``image=@photo.jpg`` and/or ``text=..``, ``id=..``, ``k=..``, ``category=..``.
A media path inside a JSON record is relative to the catalogue folder and may not leave it.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

from .thumbnails import inside_root

JSON_KEYS = ('text', 'id', 'record', 'k', 'category')
FORM_KEYS = ('text', 'id', 'k', 'category', 'image')
DEFAULT_K = 10


class BadRequest(Exception):
    """A request the service answers with ``status`` and ``message``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Query:
    """One parsed query: a record to embed, or an indexed product's id."""

    record: Optional[Dict[str, Any]]
    product_id: Optional[str]
    k: int
    category: Optional[str]


def parse_k(value: Any, max_k: int) -> int:
    """``k`` as an int in [1, max_k]."""
    if value is None or value == '':
        return min(DEFAULT_K, max_k)
    try:
        k = int(value)
        if isinstance(value, bool) or (isinstance(value, float) and k != value):
            raise ValueError
    except (TypeError, ValueError):
        raise BadRequest(f'k must be an integer, got {value!r}') from None
    if not 1 <= k <= max_k:
        raise BadRequest(f'k must be between 1 and {max_k}, got {k}')
    return k


def _optional_str(value: Any, name: str) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f'{name} must be a string, got {type(value).__name__}')
    return value.strip() or None


def _media_value(name: str, value: Any, data_root: str) -> Any:
    """A JSON record's media field: ``{"base64": ..}`` -> bytes, a catalogue path -> its absolute path."""
    if value is None:
        return None
    if isinstance(value, Mapping) and set(value) == {'base64'} and isinstance(value['base64'], str):
        try:
            return base64.b64decode(value['base64'], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f'record.{name}.base64 is not valid base64') from None
    if isinstance(value, str):
        path = inside_root(data_root, value)
        if path is None:
            raise BadRequest(f'record.{name}: {value!r} is not a file inside the catalogue folder')
        return path
    raise BadRequest(f'record.{name} must be {{"base64": ...}} or a path inside the catalogue, got '
                     f'{type(value).__name__}')


def clean_record(record: Any, specs: Mapping[str, Any], data_root: str) -> Dict[str, Any]:
    """A JSON record restricted to the model's modality fields, media made safe to read."""
    if not isinstance(record, Mapping):
        raise BadRequest(f'record must be a JSON object, got {type(record).__name__}')
    fields = {spec.record_field: (name, spec) for name, spec in specs.items()}
    unknown = sorted(set(record) - set(fields) - {'id'})
    if unknown:
        raise BadRequest(f'record has unknown fields {unknown}; the model reads {sorted(fields)}')
    out: Dict[str, Any] = {'id': 'query'}
    for key, value in record.items():
        if key == 'id':
            continue
        name, spec = fields[key]
        out[key] = _media_value(name, value, data_root) if spec.reads_path else value
    return out


def build_query(*, text: Any = None, product_id: Any = None, record: Any = None, image: Optional[bytes] = None,
                k: Any = None, category: Any = None, specs: Mapping[str, Any], data_root: str, max_k: int) -> Query:
    """Validate the parts of a request into a :class:`Query`."""
    text, product_id = _optional_str(text, 'text'), _optional_str(product_id, 'id')
    query_record = clean_record(record, specs, data_root) if record is not None else {}
    if text is not None:
        if 'text' not in specs:
            raise BadRequest(f'this model has no text modality (it reads {list(specs)})')
        query_record['text'] = text
    if image is not None:
        if 'image' not in specs:
            raise BadRequest(f'this model has no image modality (it reads {list(specs)})')
        query_record['image'] = image
    has_content = any(v not in (None, '', [], {}) for key, v in query_record.items() if key != 'id')
    if product_id is not None and has_content:
        raise BadRequest('give either an id or a query (text, image, record), not both')
    if product_id is None and not has_content:
        raise BadRequest('empty query: give a non-empty text, an image, a record or a product id')
    query_record.setdefault('id', 'query')
    return Query(record=None if product_id is not None else query_record, product_id=product_id,
                 k=parse_k(k, max_k), category=_optional_str(category, 'category'))


async def read_query(request, *, specs: Mapping[str, Any], data_root: str, max_k: int) -> Query:
    """Parse a JSON or multipart request into a :class:`Query` (BadRequest on bad input)."""
    content_type = request.headers.get('content-type', '').split(';')[0].strip().lower()
    if content_type == 'application/json':
        try:
            body = json.loads(await request.body())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(f'malformed JSON: {exc}') from None
        if not isinstance(body, dict):
            raise BadRequest(f'the JSON body must be an object, got {type(body).__name__}')
        unknown = sorted(set(body) - set(JSON_KEYS))
        if unknown:
            raise BadRequest(f'unknown fields {unknown}; accepted: {", ".join(JSON_KEYS)}')
        return build_query(text=body.get('text'), product_id=body.get('id'), record=body.get('record'),
                           k=body.get('k'), category=body.get('category'), specs=specs, data_root=data_root,
                           max_k=max_k)
    if content_type == 'multipart/form-data':
        return await _read_form(request, specs=specs, data_root=data_root, max_k=max_k)
    raise BadRequest('send application/json or multipart/form-data', status=415)


async def _read_form(request, *, specs: Mapping[str, Any], data_root: str, max_k: int) -> Query:
    from starlette.datastructures import UploadFile
    try:
        form = await request.form(max_files=1, max_fields=len(FORM_KEYS))
    except Exception as exc:  # python-multipart / starlette raise several types for a broken body
        raise BadRequest(f'malformed multipart body: {exc}') from None
    unknown = sorted(set(form.keys()) - set(FORM_KEYS))
    if unknown:
        raise BadRequest(f'unknown form fields {unknown}; accepted: {", ".join(FORM_KEYS)}')
    upload, image = form.get('image'), None
    if isinstance(upload, UploadFile):
        image = await upload.read()
        if not image:
            raise BadRequest('the uploaded image is empty')
    elif upload not in (None, ''):
        raise BadRequest('image must be an uploaded file (multipart image=@photo.jpg)')
    return build_query(text=form.get('text'), product_id=form.get('id'), image=image, k=form.get('k'),
                       category=form.get('category'), specs=specs, data_root=data_root, max_k=max_k)
