"""What ``meta.json`` records about every file of a checkpoint, and checking a file against it.

``meta.json`` lists each file with its size (``files``) and its sha256 (``sha256``): a file
cut short is caught by its size, one damaged in place (a flipped byte, same size) by its digest.
Checkpoints written before digests were recorded have no ``sha256`` and are checked by size
only. Every reader checks the files it reads before reading them: resuming
(:func:`m5mm.checkpoint.parts.check_files`), model weights
(:func:`m5mm.checkpoint.weights.load_model_state_dict`: ``load_from``, ``init_from``, evaluation,
``tools/convert_checkpoint.py``, ``ProductEncoder.from_pretrained``) and a run's saved
``config.json`` (:mod:`m5mm.api.saved_config`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Union

from m5mm.checkpoint.safe_load import CheckpointError, read_json
from m5mm.utils.files import sha256_file

PathLike = Union[str, Path]
META_FILE = 'meta.json'
DIGESTS_KEY = 'sha256'
#: the process a per-process file belongs to: m5mm's trainer state and random states, DeepSpeed's partitions
_RANK_FILE = re.compile(r'(?:^|/)(?:trainer_state|rng)_(\d+)\.|zero_pp_rank_(\d+)_')


def read_meta(folder: PathLike) -> Dict[str, Any]:
    """``folder/meta.json`` as a dict; :class:`CheckpointError` naming it when missing or not an object."""
    path = Path(folder) / META_FILE
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise CheckpointError(f'{path}: not a JSON object')
    return meta


def file_owner(name: str) -> Optional[int]:
    """The process rank a checkpoint file belongs to (``rng_3.json`` -> 3), None for a shared file."""
    match = _RANK_FILE.search(name)
    return None if match is None else int(match.group(1) or match.group(2))


def verify_file(folder: PathLike, meta: Dict[str, Any], name: str, *, digest: bool = True) -> None:
    """``folder/name`` exists with the size (and, when recorded and ``digest``, the sha256) ``meta`` lists.

    Raises:
        CheckpointError: naming the file, when it is missing, of another size or damaged.
    """
    path = Path(folder) / name
    size = (meta.get('files') or {}).get(name)
    if not path.is_file():
        raise CheckpointError(f'{path}: missing (listed in {META_FILE})')
    if size is not None and path.stat().st_size != size:
        raise CheckpointError(f'{path}: {path.stat().st_size} bytes, but {META_FILE} recorded {size} '
                              f'(truncated or replaced)')
    expected = (meta.get(DIGESTS_KEY) or {}).get(name)
    if digest and expected is not None and sha256_file(path) != expected:
        raise CheckpointError(f'{path}: its sha256 differs from the one {META_FILE} recorded: the file was damaged '
                              f'or modified after it was written (same size, other bytes)')


def verify_files(folder: PathLike, meta: Dict[str, Any], names: Iterable[str]) -> None:
    """:func:`verify_file` for each of ``names`` that ``meta`` lists (others are not m5mm's to check)."""
    listed = meta.get('files') or {}
    for name in names:
        if name in listed:
            verify_file(folder, meta, name)


def verify_in_checkpoint(path: PathLike) -> None:
    """Check a file that sits in a checkpoint directory against that directory's ``meta.json``.

    A file outside a checkpoint (no ``meta.json`` next to it, or one that is not a checkpoint's or
    does not list the file, e.g. a weights file from ``tools/convert_checkpoint.py``) is not checked.
    """
    path = Path(path)
    if (path.parent / META_FILE).is_file():
        meta = read_json(path.parent / META_FILE)
        if isinstance(meta, dict) and isinstance(meta.get('files'), dict):
            verify_files(path.parent, meta, [path.name])
