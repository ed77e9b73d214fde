"""The loading machinery shared by the manifest and M5Product readers.

A reader yields raw records with a *locator* (where the record is, e.g. a byte offset) and can
read one record again from its locator (:meth:`BaseProductDataset.iter_raw_records`,
:meth:`BaseProductDataset.read_raw`). This base validates the records in one pass (bad lines
fail with their location or are skipped and counted), keeps only a compact columnar index
(:class:`~m5mm.datasets.record_index.RecordIndex`: locator, split, label codes, presence bits),
maps categories and instances to indices over the whole source, builds the tokenizer, and
parses a record again when a sample is loaded. Memory stays flat as the catalogue grows.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from torch.utils.data import Dataset

from .errors import ManifestError, MediaError
from .paths import resolve_media_path
from .record_index import RecordIndex
from .record_index_builder import RecordIndexBuilder
from .record_list import RecordList
from .records import SPLITS, normalize_record, normalize_splits
from .sample_builder import SampleBuilder
from .tokenizer import TextTokenizer, get_or_train_tokenizer, load_tokenizer

logger = logging.getLogger(__name__)

DEFAULT_TOKENIZER = dict(path=None, vocab_size=4000)
MAX_LOGGED_BAD_LINES = 10
PROBE_LIMIT = 16

RawRecord = Union[dict, Exception]
Locator = Tuple[int, ...]


class BaseProductDataset(SampleBuilder, Dataset):
    """Products with any subset of modalities; subclasses say where records come from.

    Args:
        data_root: folder that every media path is relative to (and may not escape).
        split: a split name, a list of names, or None for all (``train``/``val``/``query``/``gallery``).
        modalities: name -> ``dict(pipeline=[transform cfgs], source='raw'|'feature', spec=dict(...))``
            (``spec`` holds extra args of the modality spec, e.g. ``shapes``); None = the five
            built-in modalities with their default pipelines.
        tokenizer: ``dict(path=None, vocab_size=4000, lowercase=True)``; path None means
            ``DATA_ROOT/tokenizer``, trained on the train split if absent. None: no tokenizer.
        on_bad_line: ``'error'`` (raise naming file and line) or ``'skip'`` (log and count).
        seed: base seed of per-sample augmentation randomness.
    """

    #: ``(name, array typecode)`` of the reader's locator columns.
    locator_fields: Tuple[Tuple[str, str], ...] = ()

    def __init__(self, *, data_root: str, split: Union[str, Sequence[str], None] = 'train',
                 modalities: Optional[Mapping[str, Optional[dict]]] = None,
                 tokenizer: Optional[dict] = DEFAULT_TOKENIZER, on_bad_line: str = 'error',
                 seed: int = 0) -> None:
        if on_bad_line not in ('error', 'skip'):
            raise ValueError(f"on_bad_line must be 'error' or 'skip', got {on_bad_line!r}")
        self.data_root = os.path.abspath(data_root)
        self.splits = normalize_splits(split)
        self.on_bad_line = on_bad_line
        self.bad_lines: List[Tuple[str, str]] = []
        self._files: Dict[str, int] = {}
        self._files_pid: Optional[int] = None
        self._init_samples(modalities, seed)
        self.index: RecordIndex = self._index_records()
        self._check_not_empty()
        self._warn_absent_modalities()
        self.categories = list(self.index.category_names)
        self.category_to_index = {name: i for i, name in enumerate(self.categories)}
        self.instance_names = self.index.instance_names
        self._rows = self.index.rows_in(self.splits)
        self.tokenizer = self._build_tokenizer(tokenizer)
        for spec in self.specs.values():
            spec.pad_id = self.tokenizer.pad_id if self.tokenizer is not None else spec.pad_id
        self.meta = self._build_meta()

    # ------------------------------------------------------------ what a reader implements
    def iter_raw_records(self) -> Iterator[Tuple[str, Locator, RawRecord]]:
        """Yield ``(where, locator, raw record or the exception that made it unreadable)``;
        ``where`` names the file and line (or entry) for messages, ``locator`` holds the values
        of :attr:`locator_fields` that :meth:`read_raw` needs to read the record again."""
        raise NotImplementedError

    def read_raw(self, locator: Dict[str, int]) -> Any:
        """The raw record at ``locator`` (as :meth:`iter_raw_records` yielded it)."""
        raise NotImplementedError

    def describe(self, locator: Dict[str, int], record_id: str) -> str:
        """``where`` of the record at ``locator``, for messages."""
        return f'{self.source_name}: record {record_id!r}'

    @property
    def source_name(self) -> str:
        """The file(s) records come from, for messages."""
        return self.data_root

    # ------------------------------------------------------------ construction
    def _index_records(self) -> RecordIndex:
        builder = RecordIndexBuilder(locator_fields=self.locator_fields, modalities=list(self.specs))
        bad: List[Tuple[int, str, str]] = []
        for seq, (where, locator, raw) in enumerate(self.iter_raw_records()):
            try:
                if isinstance(raw, Exception):
                    raise ValueError(str(raw))
                record = normalize_record(raw, self.specs)
            except ValueError as exc:
                if self.on_bad_line == 'error':
                    self._raise_first(builder, seq, where, str(exc))
                bad.append((seq, where, str(exc)))
                continue
            builder.add(seq, locator, record)
        duplicates = builder.duplicates(self._id_at)
        if duplicates and self.on_bad_line == 'error':
            self._raise_first(builder, None, '', '')
        bad += [(seq, self.describe(builder._locator(row), rid), f'duplicate id {rid!r}')
                for seq, row, rid in duplicates]
        for _, where, reason in sorted(bad, key=lambda item: item[0]):
            self._bad_line(where, reason)
        if self.bad_lines:
            logger.warning('m5mm: skipped %d malformed record(s) in %s', len(self.bad_lines), self.source_name)
        return builder.build(drop_rows=[row for _, row, _ in duplicates])

    def _raise_first(self, builder: RecordIndexBuilder, seq: Optional[int], where: str, reason: str) -> None:
        """Raise for the earliest bad record: a duplicate id before ``seq`` or the record at ``seq``."""
        duplicates = builder.duplicates(self._id_at)
        if duplicates and (seq is None or duplicates[0][0] < seq):
            _, row, rid = duplicates[0]
            where, reason = self.describe(builder._locator(row), rid), f'duplicate id {rid!r}'
        raise ManifestError(f'{where}: {reason} (use on_bad_line="skip" to skip malformed records)')

    def _id_at(self, locator: Dict[str, int]) -> str:
        return normalize_record(self.read_raw(locator), self.specs)['id']

    def _bad_line(self, where: str, reason: str) -> None:
        self.bad_lines.append((where, reason))
        if len(self.bad_lines) <= MAX_LOGGED_BAD_LINES:
            logger.warning('m5mm: skipping malformed record %s: %s', where, reason)

    def _check_not_empty(self) -> None:
        """A source without a single valid record is an error naming it (before any tokenizer is trained)."""
        if len(self.index):
            return
        skipped = f' ({self.num_bad_lines} malformed record(s) skipped, see the log)' if self.bad_lines else ''
        raise ManifestError(f'{self.source_name}: no product records{skipped}; a dataset needs at least one')

    def _warn_absent_modalities(self) -> None:
        for name in self.specs:
            if len(self.index) and not self.index.has(name).any():
                logger.warning('m5mm: modality %r is configured but absent from every record of %s%s', name,
                               self.source_name, self.absent_modality_hint(name))

    def absent_modality_hint(self, name: str) -> str:
        """Why modality ``name`` may be absent from every record (appended to the warning)."""
        return ''

    def split_sizes(self) -> Dict[str, int]:
        """Records per split over everything read (not only ``split``): what the source holds."""
        codes, counts = np.unique(self.index.splits, return_counts=True)
        return {SPLITS[int(code)]: int(n) for code, n in zip(codes, counts)}

    @property
    def num_bad_lines(self) -> int:
        """Number of malformed records skipped (``on_bad_line='skip'``)."""
        return len(self.bad_lines)

    def _build_tokenizer(self, cfg: Optional[dict]) -> Optional[TextTokenizer]:
        if cfg is None:
            return None
        cfg = dict(cfg)
        unknown = set(cfg) - {'path', 'vocab_size', 'lowercase'}
        if unknown:
            raise ValueError(f'tokenizer has unknown keys {sorted(unknown)}; '
                             f'accepted: path, vocab_size, lowercase')
        path = cfg.get('path') or os.path.join(self.data_root, 'tokenizer')
        if cfg.get('path') and not os.path.isfile(os.path.join(path, 'tokenizer.json')):
            return load_tokenizer(path)  # an explicit path must exist: raises a clear error
        needs = any(not spec.reads_path for spec in self.specs.values())
        if not needs and not os.path.isfile(os.path.join(path, 'tokenizer.json')):
            return None

        value_specs = {name: spec for name, spec in self.specs.items() if not spec.reads_path}

        def train_texts():
            rows = self.index.rows_in(['train'])
            return [text for row in rows for record in [self.record_at_row(int(row))]
                    for name, spec in value_specs.items() for text in spec.text_values(record['fields'][name])]
        return get_or_train_tokenizer(path, train_texts, vocab_size=cfg.get('vocab_size', 4000),
                                      lowercase=cfg.get('lowercase', True))

    def _build_meta(self) -> dict:
        meta = dict(modalities=list(self.specs),
                    sources={name: spec.source for name, spec in self.specs.items()},
                    tokenizer=self.tokenizer.meta() if self.tokenizer is not None else None,
                    categories=list(self.categories), num_categories=len(self.categories),
                    num_instances=len(self.instance_names), feature_dims={}, inputs=self.input_meta())
        for name, spec in self.specs.items():
            if spec.source == 'feature':
                dim = self._probe_feature_dim(name)
                meta['feature_dims'][name] = dim
                if dim is not None and 'feats' not in spec.shapes:
                    spec.shapes['feats'] = (dim,)
        return meta

    def probe_rows(self, name: str, limit: int = PROBE_LIMIT) -> List[int]:
        """Up to ``limit`` rows whose record has modality ``name``: this split's first, then the rest."""
        mine = self._rows[self.index.has(name, self._rows)][:limit]
        if len(mine) >= limit or self.splits is None:
            return mine.tolist()
        others = np.setdiff1d(np.flatnonzero(self.index.has(name)), self._rows)[:limit - len(mine)]
        return mine.tolist() + others.tolist()

    def _probe_feature_dim(self, name: str) -> Optional[int]:
        """F of the first readable ``.npy`` of modality ``name`` (header only)."""
        for row in self.probe_rows(name):
            path = self.record_at_row(row)['fields'][name]
            try:
                array = np.load(resolve_media_path(self.data_root, path), mmap_mode='r', allow_pickle=False)
            except (MediaError, OSError, ValueError):
                continue
            if array.ndim in (1, 2) and array.shape[-1] > 0:
                return int(array.shape[-1])
        logger.warning('m5mm: no readable feature file for %s among the first %d records; '
                       'set modalities.%s.spec.shapes.feats', name, PROBE_LIMIT, name)
        return None

    # ------------------------------------------------------------ records
    @property
    def records(self) -> RecordList:
        """The records of the selected split(s) as a read-only sequence of normalised dicts,
        each parsed from the source when accessed."""
        return RecordList(self)

    def record(self, index: int) -> dict:
        """The normalised record of sample ``index`` (parsed from the source now)."""
        return self.record_at_row(int(self._rows[index]))

    def record_at_row(self, row: int) -> dict:
        """The normalised record of index row ``row`` (any split)."""
        try:
            return normalize_record(self.read_raw(self.index.locator(row)), self.specs)
        except (ValueError, OSError) as exc:
            raise ManifestError(f'{self.source_name}: the record of row {row} cannot be read again ({exc}); '
                                f'was the file changed after the dataset was built?') from None

    def _open(self, path: str) -> int:
        """A read-only descriptor of ``path``, one per process (for ``os.pread``)."""
        if self._files_pid != os.getpid():
            self._files, self._files_pid = {}, os.getpid()
        if path not in self._files:
            self._files[path] = os.open(path, os.O_RDONLY)
        return self._files[path]

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.update(_files={}, _files_pid=None)
        return state

    # ------------------------------------------------------------ samples
    def __len__(self) -> int:
        return len(self._rows)

    def label_of(self, record: dict) -> Tuple[int, int]:
        """(category index, instance index) of a record, -1 when unknown."""
        category = self.category_to_index.get(record['category'], -1)
        return category, self._instance_code(record['instance'])

    def _instance_code(self, name: Optional[str]) -> int:
        if name is None:
            return -1
        names = self.instance_names
        lo, hi = 0, len(names)
        while lo < hi:  # binary search in the sorted table
            mid = (lo + hi) // 2
            if names[mid] < name:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(names) and names[lo] == name else -1

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f'index {index} out of range for {len(self)} samples')
        index = index % len(self)
        self._limit_threads()
        row = int(self._rows[index])
        record = self.record_at_row(row)
        sample: Dict[str, Any] = dict(id=record['id'], index=index, category=int(self.index.categories[row]),
                                      instance=int(self.index.instances[row]))
        errors: Dict[str, str] = {}
        for name in self.specs:
            sample[name] = self.run_pipeline(name, record['fields'][name], record['id'], index, errors)
        sample['errors'] = errors
        return sample

    def load_modality(self, name: str, index: int, errors: Optional[Dict[str, str]] = None
                      ) -> Optional[Dict[str, Any]]:
        """Run modality ``name``'s pipeline on sample ``index``; None if absent or unusable
        (the reason goes to ``errors`` and the log)."""
        record = self.record(index)
        return self.run_pipeline(name, record['fields'][name], record['id'], index, errors)

    # ------------------------------------------------------------ batches
    def _probe_template(self, name: str) -> bool:
        for row in self.probe_rows(name):
            record = self.record_at_row(row)
            if self.run_pipeline(name, record['fields'][name], record['id'], 0, None) is not None:
                return True
        return False

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(data_root={self.data_root!r}, split={self.splits}, '
                f'samples={len(self)}, modalities={list(self.specs)})')
