"""Where a shard folder keeps things, and reading its ``index.json`` with the start-up checks.

::

    DIR/index.json                 shards per split, samples per shard, presence counts, vocabularies,
                                   stored pipeline steps, tokenizer, build report
    DIR/build_plan.json            what is being built (so reruns and job-array parts agree)
    DIR/instances.txt              instance names, one per line (index = line number)
    DIR/tokenizer/                 the tokenizer the text was meant for
    DIR/<split>/<split>-<chunk>-<n>.tar     WebDataset shards
    DIR/<split>/<split>-<chunk>.stats.json  a chunk's files and counts (written last: "complete")
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from m5mm.utils import files

INDEX_FILE = 'index.json'
PLAN_FILE = 'build_plan.json'
INSTANCES_FILE = 'instances.txt'
TOKENIZER_DIR = 'tokenizer'
FORMAT_VERSION = 1


class ShardIndexError(ValueError):
    """A shard folder whose index and files disagree (the message names the file)."""


def is_shard_folder(path: str) -> bool:
    """Whether ``path`` is a folder written by ``tools/make_shards.py`` (it has ``index.json``)."""
    return os.path.isfile(os.path.join(path, INDEX_FILE))


def chunk_prefix(split: str, chunk: int) -> str:
    """File-name prefix of chunk ``chunk`` of ``split`` (relative to the shard folder)."""
    return f'{split}/{split}-{chunk:06d}'


def stats_path(root: str, split: str, chunk: int) -> str:
    return os.path.join(root, chunk_prefix(split, chunk) + '.stats.json')


def write_json_atomic(path: str, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as handle:
        json.dump(data, handle, indent=1, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    """The JSON value in ``path``; :class:`ShardIndexError` naming the file when it is missing or invalid."""
    return files.read_json(path, error=ShardIndexError)


def load_index(root: str) -> Dict[str, Any]:
    """``root/index.json``, checked against the folder.

    Raises:
        FileNotFoundError: no index (naming it), or a shard it lists is missing (naming the shard).
        ShardIndexError: the folder holds shards the index does not list, or counts disagree.
    """
    path = os.path.join(root, INDEX_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path} not found: build shards with tools/make_shards.py SRC --out {root}')
    index = read_json(path)
    if index.get('version') != FORMAT_VERSION:
        raise ShardIndexError(f'{path}: format version {index.get("version")!r}, this m5mm reads {FORMAT_VERSION}')
    for split, info in index['splits'].items():
        listed = {shard['file'] for shard in info['shards']}
        for shard in info['shards']:
            if not os.path.isfile(os.path.join(root, shard['file'])):
                raise FileNotFoundError(f'shard {os.path.join(root, shard["file"])} listed in {path} is missing')
        folder = os.path.join(root, split)
        extra = sorted(f'{split}/{name}' for name in (os.listdir(folder) if os.path.isdir(folder) else ())
                       if name.endswith('.tar') and f'{split}/{name}' not in listed)
        if extra:
            raise ShardIndexError(f'{path} does not list {os.path.join(root, extra[0])} (and {len(extra) - 1} '
                                  f'more): the index is stale; rerun tools/make_shards.py to rebuild it')
        if sum(shard['samples'] for shard in info['shards']) != info['samples']:
            raise ShardIndexError(f'{path}: the shards of split {split!r} do not add up to {info["samples"]} samples')
    return index


def shard_sizes_differ(root: str, shards: List[dict]) -> List[str]:
    """Shards whose size on disk differs from the index (truncated or rewritten files)."""
    return [shard['file'] for shard in shards
            if os.path.getsize(os.path.join(root, shard['file'])) != shard['bytes']]
