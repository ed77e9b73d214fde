"""Per-sample facts of a shard source read without decoding: group codes, byte ranges and ids.

The stream plans batches on positions before decoding anything (the group batch samplers), and
hard negatives fetch single samples by id. Both are read once from the samples' ``.json``
members (the tar is walked by header, media bytes are seeked over) and kept next to the shards:

* ``DIR/<split>/groups.npy``: ``(n, 4)`` int64 per in-split sample: instance index (in the source),
  category index (into the source's ``categories``), -1 unknown, and the byte range
  ``[start, stop)`` of its members in its tar file (-1: unreadable);
* ``DIR/<split>/ids.npy``: an :class:`~m5mm.datasets.id_table.IdTable` id -> in-split position.

Memory-mapped on later runs; a folder that cannot be written keeps them in memory (groups) or
fails with a clear error (ids, only needed for hard negatives).
"""
from __future__ import annotations

import io
import json
import logging
import os
import tarfile
from typing import Dict, Optional, Tuple

import numpy as np
from webdataset.tariterators import base_plus_ext

from ..generation_lock import generation_lock
from ..id_table import IdTable
from .sample_codec import sample_key

logger = logging.getLogger(__name__)
GROUPS_FILE = 'groups.npy'
IDS_FILE = 'ids.npy'
TAR_BLOCK = 512


def source_group_codes(source) -> np.ndarray:
    """(source.num_samples, 4) facts of a :class:`ShardSource`'s selected samples, in its order."""
    parts = [split_group_codes(source, split) for split in source.splits]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def split_group_codes(source, split: str) -> np.ndarray:
    """(samples of ``split``, 4) facts, read from (or written to) ``DIR/<split>/groups.npy``."""
    path = os.path.join(source.path, split, GROUPS_FILE)
    expected = int(source.index['splits'][split]['samples'])
    codes = _load(path, expected)
    if codes is not None:
        return codes
    try:
        with generation_lock(path):
            codes = _load(path, expected)
            if codes is None:
                codes, ids = _scan_split(source, split)
                _save(path, codes)
                IdTable.write(os.path.join(source.path, split, IDS_FILE), ids.items(), count=len(ids))
    except OSError as exc:
        logger.warning('m5mm: cannot write %s (%s); group codes kept in memory', path, exc)
        codes = _scan_split(source, split)[0]
    return codes


def split_id_table(source, split: str) -> IdTable:
    """The id -> in-split position table of ``split`` (written with the group codes)."""
    path = os.path.join(source.path, split, IDS_FILE)
    if not os.path.isfile(path):
        split_group_codes(source, split)
    if not os.path.isfile(path):
        raise OSError(f'{path} could not be written; hard negatives on shards need it (make the folder writable)')
    return IdTable(path)


def read_members(path: str, start: int, stop: int) -> Dict[str, bytes]:
    """``{suffix: bytes}`` of the sample whose members lie in bytes ``[start, stop)`` of tar ``path``."""
    with open(path, 'rb') as handle:
        handle.seek(start)
        data = handle.read(stop - start)
    members: Dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data + b'\0' * (2 * TAR_BLOCK)), mode='r:') as tar:
        for member in tar:
            if member.isfile():
                members[base_plus_ext(member.name)[1]] = tar.extractfile(member).read()
    return members


def _load(path: str, expected: int) -> Optional[np.ndarray]:
    if os.path.isfile(path):
        codes = np.load(path, mmap_mode='r', allow_pickle=False)
        if codes.shape == (expected, 4):
            return codes
    return None


def _save(path: str, codes: np.ndarray) -> None:
    tmp = f'{path}.tmp{os.getpid()}.npy'
    np.save(tmp, codes, allow_pickle=False)
    os.replace(tmp, path)


def _scan_split(source, split: str) -> Tuple[np.ndarray, Dict[str, int]]:
    shards = source.index['splits'][split]['shards']
    categories = {name: i for i, name in enumerate(source.categories)}
    codes = np.full((sum(s['samples'] for s in shards), 4), -1, dtype=np.int64)
    ids: Dict[str, int] = {}
    start = 0
    for shard in shards:
        found = _scan_shard(os.path.join(source.path, shard['file']))
        for local in range(shard['samples']):
            meta, span = found.get(sample_key(shard['first_index'] + local), (None, None))
            if meta is None:
                continue
            category = meta.get('category')
            codes[start + local] = (int(meta.get('instance_index', -1)),
                                    categories.get(category, -1) if category is not None else -1, *span)
            if isinstance(meta.get('id'), str):
                ids.setdefault(meta['id'], start + local)
        start += shard['samples']
    return codes, ids


def _scan_shard(path: str) -> Dict[str, Tuple[dict, Tuple[int, int]]]:
    """key -> (sample JSON, byte range of its members) of the readable samples of one shard."""
    found: Dict[str, Tuple[dict, Tuple[int, int]]] = {}
    spans: Dict[str, list] = {}
    try:
        with tarfile.open(path, 'r:') as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key = base_plus_ext(member.name)[0]
                end = member.offset_data + -(-member.size // TAR_BLOCK) * TAR_BLOCK
                span = spans.setdefault(key, [member.offset, end])
                span[1] = max(span[1], end)
                if member.name.endswith('.json'):
                    try:
                        found[key] = (json.loads(tar.extractfile(member).read().decode('utf-8')), None)
                    except (UnicodeDecodeError, ValueError):
                        continue
    except (tarfile.TarError, OSError, EOFError) as exc:
        logger.warning('m5mm: %s: %s; facts of its unread samples are unknown', path, exc)
    return {key: (meta, tuple(spans[key])) for key, (meta, _) in found.items()}
