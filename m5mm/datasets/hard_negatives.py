"""Mined hard negatives added to training batches (the ``hard_negatives`` dataset option).

A negatives file (``tools/mine_negatives.py``) is JSON lines, one product a line, nearest first::

    {"id": "A123", "negatives": ["B77", "C12", ...]}

Lookups never load the file: :class:`NegativesFile` keeps an :class:`~m5mm.datasets.id_table.IdTable`
(id -> byte offset of the line) in ``FILE.index.npy`` (built on first use, rebuilt when the file
changes) and reads one line with ``pread``; the dataset finds a negative product's sample through
its own id table. Both are memory-mapped, so a lookup costs a few page reads at 6 M products.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, List, Mapping, Optional

import numpy as np

from .generation_lock import generation_lock
from .id_table import IdTable

logger = logging.getLogger(__name__)
INDEX_SUFFIX = '.index.npy'


def file_fingerprint(path: str) -> int:
    """A 63-bit number that changes when ``path`` is rewritten (size and modification time)."""
    state = os.stat(path)
    return (state.st_size * 1_000_003 + state.st_mtime_ns) & ((1 << 63) - 1)


def cached_id_table(path: str, build, *, fingerprint: int) -> IdTable:
    """The :class:`IdTable` at ``path`` when built from ``fingerprint``; else ``build(path)`` under a lock."""
    with generation_lock(path):
        if os.path.isfile(path):
            try:
                table = IdTable(path)
                if table.fingerprint == fingerprint:
                    return table
            except ValueError:
                pass
        return build(path)


class NegativesFile:
    """Random access to a negatives file by product id.

    Args:
        path: the ``.jsonl`` file.
    """

    def __init__(self, path: str) -> None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f'hard_negatives file not found: {path} (write one with tools/mine_negatives.py)')
        self.path = os.path.abspath(path)
        self.table = cached_id_table(self.path + INDEX_SUFFIX, self._build, fingerprint=file_fingerprint(self.path))
        self._fd: Optional[int] = None
        self._pid: Optional[int] = None

    def _build(self, index_path: str) -> IdTable:
        count = sum(1 for _ in open(self.path, 'rb'))
        return IdTable.write(index_path, self._offsets(), count=count, fingerprint=file_fingerprint(self.path))

    def _offsets(self):
        offset = 0
        with open(self.path, 'rb') as handle:
            for lineno, line in enumerate(handle, 1):
                if line.strip():
                    yield self._parse(line, lineno)['id'], offset
                offset += len(line)

    def _parse(self, line: bytes, where: Any) -> dict:
        try:
            entry = json.loads(line.decode('utf-8'))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f'{self.path}:{where}: not a JSON line ({exc})') from None
        if not isinstance(entry, dict) or not isinstance(entry.get('id'), str) or \
                not isinstance(entry.get('negatives'), list):
            raise ValueError(f'{self.path}:{where}: expected {{"id": str, "negatives": [str, ...]}}')
        return entry

    def negatives(self, pid: str) -> List[str]:
        """The negatives of ``pid``, nearest first ([] for a product not in the file)."""
        offset = self.table.get(pid)
        if offset is None:
            return []
        if self._pid != os.getpid():   # a file descriptor per (worker) process
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        line, chunk = b'', 4096
        while not line.endswith(b'\n'):
            part = os.pread(self._fd, chunk, offset + len(line))
            if not part:
                break
            cut = part.find(b'\n')
            line += part if cut < 0 else part[:cut + 1]
            if cut >= 0:
                break
        entry = self._parse(line, f'byte {offset}')
        return [str(n) for n in entry['negatives']] if entry['id'] == pid else []

    def __getstate__(self) -> dict:
        return dict(self.__dict__, _fd=None, _pid=None)


class HardNegatives:
    """Adds up to ``per_sample`` mined negatives of each sample to its batch.

    They are drawn from the sample's list with a generator seeded by (seed, epoch, sample index),
    skipping products already in the batch; a negative the dataset does not hold (another split,
    a dropped record) is skipped and counted in :attr:`missing`.

    Args:
        file: the negatives file. per_sample: m, negatives added per sample.
        seed: the dataset's seed.
    """

    def __init__(self, *, file: str, per_sample: int = 1, seed: int = 0) -> None:
        if int(per_sample) < 1:
            raise ValueError(f'hard_negatives.per_sample must be >= 1, got {per_sample}')
        self.file = NegativesFile(file)
        self.per_sample = int(per_sample)
        self.seed = seed
        self.missing = 0

    @classmethod
    def build(cls, cfg: Optional[Mapping[str, Any]], *, seed: int) -> Optional['HardNegatives']:
        """None for None, else from ``dict(file=..., per_sample=m)`` (unknown keys are an error)."""
        if cfg is None:
            return None
        unknown = set(cfg) - {'file', 'per_sample'}
        if unknown or 'file' not in cfg:
            raise ValueError(f'hard_negatives is dict(file=PATH, per_sample=m), got {dict(cfg)}')
        return cls(file=cfg['file'], per_sample=cfg.get('per_sample', 1), seed=seed)

    def extra_samples(self, dataset, samples: List[dict]) -> List[dict]:
        """The negatives' samples to append to ``samples`` (``dataset.sample_by_id`` loads them)."""
        taken = {s['id'] for s in samples}
        extra: List[dict] = []
        for sample in samples:
            candidates = self.file.negatives(sample['id'])
            rng = np.random.default_rng([self.seed, dataset.epoch, int(sample['index']) & 0x7FFFFFFF])
            added = 0
            for k in rng.permutation(len(candidates)).tolist():
                if added == self.per_sample:
                    break
                pid = candidates[k]
                if pid in taken:
                    continue
                loaded = dataset.sample_by_id(pid)
                if loaded is None:
                    self._missing(pid)
                    continue
                taken.add(pid)
                extra.append(loaded)
                added += 1
        return extra

    def _missing(self, pid: str) -> None:
        self.missing += 1
        if self.missing <= 10:
            logger.warning('m5mm: hard negative %r is not in the dataset; skipped (%d so far)', pid, self.missing)
