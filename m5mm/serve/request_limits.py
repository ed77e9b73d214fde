"""What one search request may hold, checked before any tokenizer, decoder or model runs.

A body under the upload limit can still hold a 9 MB title or a 100,000-pair table, so every field
has its own limit and the work one accepted request causes stays bounded. Text limits follow the
model: a text the model reads ``N`` tokens of may have ``N * CHARS_PER_TOKEN`` characters (the
tokenizer never reads more, see :mod:`m5mm.datasets.tokenizer`). A field over its limit answers
413, a field of the wrong type 422, both naming the field and the limit.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, Mapping, Optional

from m5mm.datasets.tokenizer import CHARS_PER_TOKEN
from m5mm.datasets.transforms import TokenizeTable, TokenizeText

from .errors import BadRequest

DEFAULT_TOKENS = 512                     # a text / table pipeline without a tokenize step
TABLE_PAIRS_PER_TOKEN = 4                # each non-empty pair takes >= 1 token: room for empty ones
DEFAULT_MAX_K = 100
DEFAULT_MAX_MEDIA_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 25_000_000    # e.g. 6000 x 4000; decoding one needs 75 MB
DEFAULT_MAX_NAME_CHARS = 1024
DEFAULT_MAX_PATH_CHARS = 4096
DEFAULT_MAX_JSON_ITEMS = 100_000         # parsing as many takes ~30 ms; a request at every other limit has < 20,000
TOO_LARGE, WRONG_TYPE = 413, 422
OPTIONS = dict(max_text_chars='--max-text-chars', max_table_pairs='--max-table-pairs',
               max_table_chars='--max-table-chars', max_media_bytes='--max-media-mb',
               max_image_pixels='--max-image-pixels', max_k='--max-k')


@dataclass(frozen=True)
class RequestLimits:
    """The most one request may hold.

    Attributes:
        max_text_chars: characters of a text (``text``, ``record.text``).
        max_table_pairs: ``[key, value]`` pairs of ``record.table``.
        max_table_chars: characters of ``record.table``'s keys and values together (a pv string: its length).
        max_media_bytes: bytes of one media value (the uploaded image, a decoded ``{"base64": ..}``).
        max_image_pixels: width x height of an uploaded or base64 image (read from its header).
        max_k: results per query.
        max_name_chars: characters of ``id`` and ``category``.
        max_path_chars: characters of a media path in a record.
        max_json_items: ``[``, ``{`` and ``,`` characters in a JSON body (strings included), counted before
            it is parsed: a bound on its values, each of which costs parsing time.
    """

    max_text_chars: int
    max_table_pairs: int
    max_table_chars: int
    max_media_bytes: int = DEFAULT_MAX_MEDIA_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    max_k: int = DEFAULT_MAX_K
    max_name_chars: int = DEFAULT_MAX_NAME_CHARS
    max_path_chars: int = DEFAULT_MAX_PATH_CHARS
    max_json_items: int = DEFAULT_MAX_JSON_ITEMS

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'{field.name} must be a positive integer, got {value!r}')

    @classmethod
    def for_model(cls, pipelines: Mapping[str, Any], **given: Optional[int]) -> 'RequestLimits':
        """The limits for a model's modality ``pipelines``: ``given`` values (None: the default; text
        and table defaults follow the tokens the model reads)."""
        text, table = token_budget(pipelines.get('text')), token_budget(pipelines.get('table'))
        values: Dict[str, int] = dict(max_text_chars=text * CHARS_PER_TOKEN, max_table_chars=table * CHARS_PER_TOKEN,
                                      max_table_pairs=table * TABLE_PAIRS_PER_TOKEN)
        unknown = sorted(set(given) - {field.name for field in fields(cls)})
        if unknown:
            raise ValueError(f'unknown request limits {unknown}; known: {[field.name for field in fields(cls)]}')
        values.update({name: value for name, value in given.items() if value is not None})
        return cls(**values)

    def as_dict(self) -> Dict[str, int]:
        """The limits by name (``GET /health`` shows them)."""
        return asdict(self)


def token_budget(pipeline: Any) -> int:
    """``max_length`` of the pipeline's tokenize step (:data:`DEFAULT_TOKENS` when it has none)."""
    for step in getattr(pipeline, 'transforms', ()):
        if isinstance(step, (TokenizeText, TokenizeTable)):
            return int(step.max_length)
    return DEFAULT_TOKENS


def brief(value: Any) -> str:
    """A short description of a request value for a message (never a whole long text)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f'{value[:37]!r}...'
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** 40:
        return f'an integer of {len(str(abs(value))) if value.bit_length() < 10000 else "thousands of"} digits'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = repr(value)
        return text if len(text) <= 40 else f'{text[:37]}...'
    return type(value).__name__


def too_large(name: str, size: str, limit: str, option: str) -> BadRequest:
    """The 413 of a field over a limit."""
    how = f' ({OPTIONS[option]})' if option in OPTIONS else ''
    return BadRequest(f'{name} {size}, over the limit of {limit}{how}', status=TOO_LARGE)


def check_json_items(body: bytes, limits: RequestLimits) -> None:
    """413 when a JSON body has more than ``max_json_items`` brackets and commas (before parsing it)."""
    items = body.count(b'[') + body.count(b'{') + body.count(b',')
    if items > limits.max_json_items:
        raise too_large('the JSON body', f'has {items} brackets and commas', f'{limits.max_json_items}',
                        'max_json_items')


def _bounded_string(value: Any, name: str, limit: int, option: str) -> Optional[str]:
    """``value`` when it is None or a string (422 otherwise) of at most ``limit`` characters (413)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f'{name} must be a string, got {brief(value)}', status=WRONG_TYPE)
    if len(value) > limit:
        raise too_large(name, f'has {len(value)} characters', f'{limit}', option)
    return value


def check_text(value: Any, name: str, limits: RequestLimits) -> Optional[str]:
    """A text field: a string (422 otherwise) of at most ``max_text_chars`` characters (413)."""
    return _bounded_string(value, name, limits.max_text_chars, 'max_text_chars')


def check_name(value: Any, name: str, limits: RequestLimits) -> Optional[str]:
    """``id`` / ``category``: a string (422) of at most ``max_name_chars`` characters (413); blank is None."""
    value = _bounded_string(value, name, limits.max_name_chars, 'max_name_chars')
    return None if value is None else value.strip() or None


def check_table(value: Any, name: str, spec: Any, limits: RequestLimits) -> Any:
    """A table field: its size checked before it is read (413), then its form (422)."""
    if isinstance(value, (list, tuple, dict)) and len(value) > limits.max_table_pairs:
        raise too_large(name, f'has {len(value)} pairs', f'{limits.max_table_pairs}', 'max_table_pairs')
    if isinstance(value, str) and len(value) > limits.max_table_chars:
        raise too_large(name, f'has {len(value)} characters', f'{limits.max_table_chars}', 'max_table_chars')
    try:
        pairs = spec.parse_value(value)
    except ValueError as exc:
        raise BadRequest(f'{name}: {exc}', status=WRONG_TYPE) from None
    pairs = pairs or []
    if len(pairs) > limits.max_table_pairs:
        raise too_large(name, f'has {len(pairs)} pairs', f'{limits.max_table_pairs}', 'max_table_pairs')
    chars = sum(len(key) + len(val) for key, val in pairs)
    if chars > limits.max_table_chars:
        raise too_large(name, f'has {chars} characters in its keys and values', f'{limits.max_table_chars}',
                        'max_table_chars')
    return value


def check_base64_size(encoded: str, name: str, limits: RequestLimits) -> None:
    """413 when a base64 text decodes to more than ``max_media_bytes`` (checked before decoding)."""
    size = len(encoded) // 4 * 3
    if size > limits.max_media_bytes + 2:
        raise too_large(name, f'holds about {size} bytes', f'{limits.max_media_bytes} bytes', 'max_media_bytes')


def check_media(data: bytes, name: str, limits: RequestLimits, *, image: bool) -> bytes:
    """Media bytes: at most ``max_media_bytes`` (413); an image at most ``max_image_pixels`` (413)."""
    if len(data) > limits.max_media_bytes:
        raise too_large(name, f'has {len(data)} bytes', f'{limits.max_media_bytes} bytes', 'max_media_bytes')
    if image:
        check_image_pixels(data, name, limits)
    return data


def check_image_pixels(data: bytes, name: str, limits: RequestLimits) -> None:
    """413 when an image's header gives more than ``max_image_pixels`` pixels; bytes that are not an
    image PIL reads pass (the decoder then answers 400 'corrupt image')."""
    from PIL import Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        raise too_large(name, 'has more pixels than PIL opens', f'{limits.max_image_pixels} pixels',
                        'max_image_pixels') from None
    except (OSError, ValueError, SyntaxError):
        return
    if width * height > limits.max_image_pixels:
        raise too_large(name, f'is {width} x {height} pixels', f'{limits.max_image_pixels} pixels',
                        'max_image_pixels')
