"""The loading machinery shared by the manifest and M5Product readers.

A reader only yields raw records (:meth:`BaseProductDataset.iter_raw_records`); this base
validates them (bad lines fail with their location or are skipped and counted), maps
categories and instances to indices over the whole file, filters the split, builds the
tokenizer, runs each modality's pipeline per sample and collates batches.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
from multiprocessing.context import get_spawning_popen
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from torch.utils.data import Dataset

from m5mm.registry import MODALITIES
from m5mm.structures import BUILTIN_MODALITIES

from .collation import collate
from .errors import ManifestError, MediaError
from .modalities.base_modality import ModalitySpec, Template
from .paths import resolve_media_path
from .records import label_index, normalize_record, normalize_splits
from .tokenizer import TextTokenizer, get_or_train_tokenizer, load_tokenizer
from .transforms.compose import Compose
from .worker import limit_worker_threads

logger = logging.getLogger('m5mm')

DEFAULT_TOKENIZER = dict(path=None, vocab_size=4000)
MODALITY_CFG_KEYS = ('pipeline', 'source', 'spec')
MAX_LOGGED_BAD_LINES = 10
PROBE_LIMIT = 16

RawRecord = Union[dict, Exception]


class BaseProductDataset(Dataset):
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

    def __init__(self, *, data_root: str, split: Union[str, Sequence[str], None] = 'train',
                 modalities: Optional[Mapping[str, Optional[dict]]] = None,
                 tokenizer: Optional[dict] = DEFAULT_TOKENIZER, on_bad_line: str = 'error',
                 seed: int = 0) -> None:
        if on_bad_line not in ('error', 'skip'):
            raise ValueError(f"on_bad_line must be 'error' or 'skip', got {on_bad_line!r}")
        self.data_root = os.path.abspath(data_root)
        self.splits = normalize_splits(split)
        self.on_bad_line = on_bad_line
        self.seed = seed
        self._epoch = multiprocessing.RawValue('q', 0)  # shared with (persistent) DataLoader workers
        self.bad_lines: List[Tuple[str, str]] = []
        self.specs: Dict[str, ModalitySpec] = {}
        self.pipelines: Dict[str, Compose] = {}
        self._build_modalities(modalities)
        all_records = self._load_records()
        self._warn_absent_modalities(all_records)
        self.categories = list(label_index(r['category'] for r in all_records))
        self.category_to_index = {name: i for i, name in enumerate(self.categories)}
        self.instance_to_index = label_index(r['instance'] for r in all_records)
        self.records = [r for r in all_records if self.splits is None or r['split'] in self.splits]
        self._other_records = [r for r in all_records
                               if self.splits is not None and r['split'] not in self.splits]
        self.tokenizer = self._build_tokenizer(tokenizer, all_records)
        for spec in self.specs.values():
            spec.pad_id = self.tokenizer.pad_id if self.tokenizer is not None else spec.pad_id
        self._templates: Dict[str, Template] = {}
        self._threads_pid: Optional[int] = None
        self.meta = self._build_meta()

    # ------------------------------------------------------------ construction
    def iter_raw_records(self) -> Iterator[Tuple[str, RawRecord]]:
        """Yield ``(where, raw record or the exception that made it unreadable)``; ``where``
        names the file and line (or entry) for error messages."""
        raise NotImplementedError

    def _build_modalities(self, modalities: Optional[Mapping[str, Optional[dict]]]) -> None:
        if modalities is None:
            modalities = {name: None for name in BUILTIN_MODALITIES}
        if not modalities:
            raise ValueError('modalities is empty: configure at least one modality')
        for name, cfg in modalities.items():
            cfg = dict(cfg or {})
            unknown = set(cfg) - set(MODALITY_CFG_KEYS)
            if unknown:
                raise ValueError(f'modalities.{name} has unknown keys {sorted(unknown)}; '
                                 f'accepted: {", ".join(MODALITY_CFG_KEYS)}')
            spec_cfg = dict(type=name, source=cfg.get('source', 'raw'), **(cfg.get('spec') or {}))
            spec = MODALITIES.build(spec_cfg)
            pipeline = cfg.get('pipeline')
            self.specs[name] = spec
            self.pipelines[name] = Compose(
                transforms=spec.default_pipeline() if pipeline is None else pipeline)

    def _load_records(self) -> List[dict]:
        records, seen = [], set()
        for where, raw in self.iter_raw_records():
            try:
                if isinstance(raw, Exception):
                    raise ValueError(str(raw))
                record = normalize_record(raw, self.specs)
                if record['id'] in seen:
                    raise ValueError(f'duplicate id {record["id"]!r}')
            except ValueError as exc:
                self._bad_line(where, str(exc))
                continue
            seen.add(record['id'])
            records.append(record)
        if self.bad_lines:
            logger.warning('m5mm: skipped %d malformed record(s) in %s', len(self.bad_lines),
                           self.source_name)
        return records

    def _warn_absent_modalities(self, records: List[dict]) -> None:
        for name in self.specs:
            if records and all(r['fields'][name] is None for r in records):
                logger.warning('m5mm: modality %r is configured but absent from every record of %s%s', name,
                               self.source_name, self.absent_modality_hint(name))

    def absent_modality_hint(self, name: str) -> str:
        """Why modality ``name`` may be absent from every record (appended to the warning)."""
        return ''

    def _bad_line(self, where: str, reason: str) -> None:
        if self.on_bad_line == 'error':
            raise ManifestError(f'{where}: {reason} (use on_bad_line="skip" to skip malformed records)')
        self.bad_lines.append((where, reason))
        if len(self.bad_lines) <= MAX_LOGGED_BAD_LINES:
            logger.warning('m5mm: skipping malformed record %s: %s', where, reason)

    @property
    def source_name(self) -> str:
        """The file(s) records come from, for messages."""
        return self.data_root

    def split_sizes(self) -> Dict[str, int]:
        """Records per split over everything read (not only ``split``): what the manifest holds."""
        sizes: Dict[str, int] = {}
        for record in self.records + self._other_records:
            sizes[record['split']] = sizes.get(record['split'], 0) + 1
        return sizes

    @property
    def num_bad_lines(self) -> int:
        """Number of malformed records skipped (``on_bad_line='skip'``)."""
        return len(self.bad_lines)

    def _build_tokenizer(self, cfg: Optional[dict], records: List[dict]) -> Optional[TextTokenizer]:
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
            return [text for r in records if r['split'] == 'train'
                    for name, spec in value_specs.items() for text in spec.text_values(r['fields'][name])]
        return get_or_train_tokenizer(path, train_texts, vocab_size=cfg.get('vocab_size', 4000),
                                      lowercase=cfg.get('lowercase', True))

    def _build_meta(self) -> dict:
        meta = dict(modalities=list(self.specs),
                    sources={name: spec.source for name, spec in self.specs.items()},
                    tokenizer=self.tokenizer.meta() if self.tokenizer is not None else None,
                    categories=list(self.categories), num_categories=len(self.categories),
                    num_instances=len(self.instance_to_index), feature_dims={})
        for name, spec in self.specs.items():
            if spec.source == 'feature':
                dim = self._probe_feature_dim(name)
                meta['feature_dims'][name] = dim
                if dim is not None and 'feats' not in spec.shapes:
                    spec.shapes['feats'] = (dim,)
        return meta

    def _probe_feature_dim(self, name: str) -> Optional[int]:
        """F of the first readable ``.npy`` of modality ``name`` (header only)."""
        candidates = [r['fields'][name] for r in self.records + self._other_records
                      if r['fields'][name] is not None]
        for path in candidates[:PROBE_LIMIT]:
            try:
                array = np.load(resolve_media_path(self.data_root, path), mmap_mode='r', allow_pickle=False)
            except (MediaError, OSError, ValueError):
                continue
            if array.ndim in (1, 2) and array.shape[-1] > 0:
                return int(array.shape[-1])
        logger.warning('m5mm: no readable feature file for %s among the first %d records; '
                       'set modalities.%s.spec.shapes.feats', name, PROBE_LIMIT, name)
        return None

    # ------------------------------------------------------------ samples
    def __len__(self) -> int:
        return len(self.records)

    @property
    def epoch(self) -> int:
        """The epoch set by :meth:`set_epoch` (0 at first)."""
        return int(self._epoch.value)

    def set_epoch(self, epoch: int) -> None:
        """Make augmentation randomness depend on ``epoch`` (call before each epoch).

        The value lives in shared memory, so DataLoader workers that were started earlier
        (``persistent_workers=True``) see it too.
        """
        self._epoch.value = int(epoch)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if get_spawning_popen() is None:  # an ordinary pickle, not a worker start: copy the value
            state['_epoch'] = self.epoch
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state['_epoch'], int):
            state['_epoch'] = multiprocessing.RawValue('q', state['_epoch'])
        self.__dict__.update(state)

    def sample_seed(self, index: int) -> int:
        """Seed of sample ``index`` this epoch (a function of seed, epoch and index only)."""
        return int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0])

    def label_of(self, record: dict) -> Tuple[int, int]:
        """(category index, instance index) of a record, -1 when unknown."""
        return (self.category_to_index.get(record['category'], -1),
                self.instance_to_index.get(record['instance'], -1))

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f'index {index} out of range for {len(self)} samples')
        index = index % len(self)
        if self._threads_pid != os.getpid():  # once per process: a worker gets one BLAS/OpenMP thread
            self._threads_pid = os.getpid()
            limit_worker_threads()
        record = self.records[index]
        category, instance = self.label_of(record)
        sample: Dict[str, Any] = dict(id=record['id'], index=index, category=category, instance=instance)
        errors: Dict[str, str] = {}
        for name in self.specs:
            sample[name] = self.load_modality(name, index, errors)
        sample['errors'] = errors
        return sample

    def load_modality(self, name: str, index: int, errors: Optional[Dict[str, str]] = None
                      ) -> Optional[Dict[str, Any]]:
        """Run modality ``name``'s pipeline on sample ``index``; None if absent or unusable
        (the reason goes to ``errors`` and the log)."""
        return self._load(name, self.records[index], index, errors)

    def _load(self, name: str, record: dict, index: int, errors: Optional[Dict[str, str]]
              ) -> Optional[Dict[str, Any]]:
        value = record['fields'][name]
        if value is None:
            return None
        spec = self.specs[name]
        results = dict(id=record['id'], index=index, modality=name, source=spec.source,
                       data_root=self.data_root, tokenizer=self.tokenizer, seed=self.sample_seed(index))
        try:
            if spec.reads_path:
                results['path'] = resolve_media_path(self.data_root, value)
            else:
                results['value'] = value
            results = self.pipelines[name](results)
        except MediaError as exc:
            if errors is not None:
                errors[name] = exc.reason
            logger.warning('m5mm: %s of %r treated as absent: %s', name, record['id'], exc)
            return None
        missing = [k.name for k in spec.item_keys if k.name not in results]
        if missing:
            raise KeyError(f'the {name} pipeline {self.pipelines[name]!r} did not produce {missing}')
        item = {k.name: results[k.name] for k in spec.item_keys}
        if name not in self._templates:
            self._templates[name] = spec.template_of(item)
        return item

    # ------------------------------------------------------------ batches
    def template(self, name: str) -> Template:
        """Item shapes of modality ``name`` for batches that lack it entirely: from a loaded
        sample, else by loading the first few records that have it (this split first, then the
        rest of the file), else the spec's declared shapes."""
        if name not in self._templates:
            candidates = [r for r in self.records + self._other_records if r['fields'][name] is not None]
            for record in candidates[:PROBE_LIMIT]:
                if self._load(name, record, 0, None) is not None:
                    break
            else:
                logger.warning('m5mm: no loadable %s among the first %d records; padding absent batches '
                               'with the declared shapes %s (set modalities.%s.spec.shapes)', name,
                               PROBE_LIMIT, self.specs[name].default_template(), name)
                self._templates[name] = self.specs[name].default_template()
        return self._templates[name]

    def collate(self, samples: List[dict]) -> dict:
        """Batch samples (a DataLoader ``collate_fn``; picklable with the dataset)."""
        return collate(samples, modalities=self.specs, template_fn=self.template)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(data_root={self.data_root!r}, split={self.splits}, '
                f'samples={len(self)}, modalities={list(self.specs)})')
