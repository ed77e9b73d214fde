"""One product as a WebDataset sample, and back.

A sample is ``<key>.json`` plus one member per stored medium; ``key`` is the product's index
in its split (10 digits). The JSON holds::

    {"id": "A123", "split": "train", "category": "clothing", "instance": "sku-7", "instance_index": 3,
     "values": {"text": "red t-shirt", "table": [["color", "red"]]},   # value modalities
     "media": {"image": ["image.pixels.npy"], "video": ["video.mp4"]},  # members per stored medium
     "extras": {"image": {"ori_shape": [480, 640]}},                    # small pipeline outputs
     "errors": {"audio": "corrupt audio"}}                              # media found unusable at build

A medium is stored raw (the file's bytes, ``<modality><ext>``) or as the output of the
build-time steps of its pipeline (one ``.npy`` per array: ``<modality>.<key>.npy``). A stored
array is read back by :func:`load_stored_array`: plain ``.npy`` of a numeric array only (never
unpickled); a damaged one is a :class:`MediaError` (that modality absent for that sample, counted).
"""
from __future__ import annotations

import io
import json
import math
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import MediaError
from ..paths import resolve_media_path

INPUT_KEYS = frozenset({'id', 'index', 'modality', 'source', 'data_root', 'tokenizer', 'seed', 'path', 'data',
                        'value'})
KEY_DIGITS = 10
CORRUPT_MEMBER = 'corrupt shard member'
CORRUPT_SAMPLE = 'corrupt shard sample'
ARRAY_KINDS = frozenset('biufc')   # bool, integer, unsigned, float, complex: what the builder stores


def sample_key(index: int) -> str:
    """The tar key of the product with in-split index ``index``."""
    return f'{index:0{KEY_DIGITS}d}'


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(type(value).__name__)


def _store_results(name: str, results: Dict[str, Any], members: Dict[str, bytes], meta: dict) -> None:
    stored, extras = [], {}
    for key, value in results.items():
        if key in INPUT_KEYS:
            continue
        if isinstance(value, (torch.Tensor, np.ndarray)):
            member = f'{name}.{key}.npy'
            members[member] = _npy_bytes(value.numpy() if isinstance(value, torch.Tensor) else value)
            stored.append(member)
            continue
        try:
            extras[key] = _jsonable(value)
        except TypeError as exc:
            raise TypeError(f'{name}: the build-time pipeline output {key!r} is a {exc}; only arrays, tensors '
                            f'and JSON values can be stored in shards') from None
    meta['media'][name] = stored
    if extras:
        meta.setdefault('extras', {})[name] = extras


def encode_sample(dataset, index: int, key_index: int, prefixes: Dict[str, Sequence[Callable]]
                  ) -> Tuple[Dict[str, Any], dict]:
    """The members of product ``index`` of a map-style ``dataset`` and its JSON dict.

    Args:
        dataset: a :class:`~m5mm.datasets.base_dataset.BaseProductDataset` over every split.
        index: the product's index in ``dataset``.
        key_index: its index within its split (the tar key).
        prefixes: modality -> build-time transforms to run and store; empty: store the file itself,
            after checking that the whole pipeline can use it.
    """
    record, row = dataset.record(index), int(dataset._rows[index])
    meta = dict(id=record['id'], split=record['split'], category=record['category'], instance=record['instance'],
                instance_index=int(dataset.index.instances[row]), values={}, media={}, errors={})
    members: Dict[str, Any] = {}
    for name, spec in dataset.specs.items():
        value = record['fields'][name]
        if value is None:
            continue
        if not spec.reads_path:
            meta['values'][name] = _jsonable(value)
            continue
        prefix = prefixes.get(name) or ()
        try:
            path = resolve_media_path(dataset.data_root, value)
            if prefix:
                results = dataset.base_results(name, record['id'], index, dataset.sample_seed(index))
                results['path'] = path
                for transform in prefix:
                    results = transform(results)
                _store_results(name, results, members, meta)
                continue
        except MediaError as exc:
            dataset._media_failed(name, record['id'], exc, meta['errors'])
            continue
        if dataset.run_pipeline(name, value, record['id'], index, meta['errors']) is not None:
            member = name + (os.path.splitext(path)[1].lower() or '.bin')
            with open(path, 'rb') as handle:
                members[member] = handle.read()
            meta['media'][name] = [member]
    members['json'] = json.dumps(meta, ensure_ascii=False).encode('utf-8')
    members['__key__'] = sample_key(key_index)
    return members, meta


def stored_inputs(name: str, meta: dict, members: Dict[str, bytes], source: str) -> Dict[str, Any]:
    """What the remaining pipeline of modality ``name`` starts from: the stored arrays (as
    tensors) and extras, or ``data`` (the file's bytes) and ``path`` (a name for messages)."""
    names: List[str] = meta['media'][name]
    missing = [m for m in names if m not in members]
    if missing:
        raise MediaError('incomplete shard sample', f'{source}: {missing} missing')
    if len(names) == 1 and not names[0].endswith('.npy') or names and names[0] == f'{name}.npy':
        return dict(path=f'{source}/{names[0]}', data=members[names[0]])
    inputs: Dict[str, Any] = {}
    for member in names:
        key = member[len(name) + 1:-len('.npy')]
        inputs[key] = load_stored_array(members[member], f'{source}/{member}')
    for key, value in (meta.get('extras') or {}).get(name, {}).items():
        inputs[key] = tuple(value) if isinstance(value, list) else value
    return inputs


def load_stored_array(data: bytes, where: str) -> torch.Tensor:
    """The array of a stored ``.npy`` member as a tensor.

    Only the plain ``.npy`` format of a numeric or boolean array is read: no pickle is ever
    loaded (an object array is refused, not unpickled), no ``.npz`` archive, and the header must
    describe exactly the bytes that follow it.

    Raises:
        MediaError: ``'corrupt shard member'`` (truncated, random bytes, an object array, ...),
            naming ``where``.
    """
    handle = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(handle)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f'.npy format version {version} is not one m5mm writes')
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
            else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(handle)
        if dtype.hasobject or dtype.kind not in ARRAY_KINDS:
            raise ValueError(f'dtype {dtype} is not numeric (object arrays are refused, never unpickled)')
        expected, found = math.prod(shape) * dtype.itemsize, len(data) - handle.tell()
        if found != expected:
            raise ValueError(f'the header describes a {shape} {dtype} array ({expected} bytes), '
                             f'the member holds {found}')
        handle.seek(0)
        return torch.from_numpy(np.lib.format.read_array(handle, allow_pickle=False))
    except (ValueError, TypeError, EOFError, OverflowError) as exc:
        raise MediaError(CORRUPT_MEMBER, f'{where}: {str(exc)[:200]}') from None


def is_complete(members: Dict[str, bytes]) -> bool:
    """Whether a sample read from a shard has its JSON and every medium member the JSON lists."""
    try:
        meta = json.loads(members['json'].decode('utf-8'))
        return all(m in members for names in meta['media'].values() for m in names)
    except (KeyError, AttributeError, TypeError, ValueError):
        return False


def parse_meta(data: Optional[bytes], source: str) -> dict:
    """The JSON dict of a sample, with a clear error for a damaged one."""
    if data is None:
        raise MediaError('incomplete shard sample', f'{source}: no .json member')
    try:
        meta = json.loads(data.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MediaError(CORRUPT_SAMPLE, f'{source}: {exc}') from None
    if not isinstance(meta, dict) or 'id' not in meta:
        raise MediaError(CORRUPT_SAMPLE, f'{source}: not a sample JSON')
    return meta
