"""Per-sample group codes of a shard source (instance and category), for the group batch samplers.

The stream plans batches on positions before decoding anything, so it needs each sample's group
up front. They are read once from the samples' ``.json`` members (the tar is walked by header,
media bytes are seeked over) and kept in ``DIR/<split>/groups.npy`` (an ``(n, 2)`` int64 array:
in-source instance index and category index into the source's ``categories``, -1 unknown),
memory-mapped on later runs. A folder that cannot be written keeps the codes in memory.
"""
from __future__ import annotations

import json
import logging
import os
import tarfile
from typing import Dict

import numpy as np

from ..file_lock import file_lock
from .sample_codec import sample_key

logger = logging.getLogger('m5mm')
GROUPS_FILE = 'groups.npy'
COLUMNS = ('instance', 'category')


def source_group_codes(source) -> np.ndarray:
    """(source.num_samples, 2) codes of a :class:`ShardSource`'s selected samples, in its order."""
    parts = [split_group_codes(source, split) for split in source.splits]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def split_group_codes(source, split: str) -> np.ndarray:
    """(samples of ``split``, 2) codes, read from (or written to) ``DIR/<split>/groups.npy``."""
    path = os.path.join(source.path, split, GROUPS_FILE)
    expected = int(source.index['splits'][split]['samples'])
    if os.path.isfile(path):
        codes = np.load(path, mmap_mode='r', allow_pickle=False)
        if codes.shape == (expected, 2):
            return codes
    try:
        with file_lock(path + '.lock'):
            codes = _scan_split(source, split)
            tmp = f'{path}.tmp{os.getpid()}.npy'
            np.save(tmp, codes, allow_pickle=False)
            os.replace(tmp, path)
    except OSError as exc:
        logger.warning('m5mm: cannot write %s (%s); group codes kept in memory', path, exc)
        codes = _scan_split(source, split)
    return codes


def _scan_split(source, split: str) -> np.ndarray:
    shards = source.index['splits'][split]['shards']
    categories = {name: i for i, name in enumerate(source.categories)}
    codes = np.full((sum(s['samples'] for s in shards), 2), -1, dtype=np.int64)
    start = 0
    for shard in shards:
        found = _scan_shard(os.path.join(source.path, shard['file']))
        for local in range(shard['samples']):
            meta = found.get(sample_key(shard['first_index'] + local))
            if meta is not None:
                codes[start + local, 0] = int(meta.get('instance_index', -1))
                category = meta.get('category')
                codes[start + local, 1] = categories.get(category, -1) if category is not None else -1
        start += shard['samples']
    return codes


def _scan_shard(path: str) -> Dict[str, dict]:
    """key -> sample JSON of the readable samples of one shard (a damaged tail is left out)."""
    found: Dict[str, dict] = {}
    try:
        with tarfile.open(path, 'r:') as tar:
            for member in tar:
                if not member.isfile() or not member.name.endswith('.json'):
                    continue
                key = os.path.basename(member.name)[:-len('.json')]
                try:
                    found[key] = json.loads(tar.extractfile(member).read().decode('utf-8'))
                except (UnicodeDecodeError, ValueError):
                    continue
    except (tarfile.TarError, OSError, EOFError) as exc:
        logger.warning('m5mm: %s: %s; group codes of its unread samples are unknown', path, exc)
    return found
