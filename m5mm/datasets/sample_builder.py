"""Turning one product's fields into a sample dict: the part every m5mm dataset shares.

:class:`SampleBuilder` holds the modality specs and pipelines, the tokenizer, the seed and the
(shared-memory) epoch, runs a modality's pipeline on one field value, remembers item shapes
for batches that lack a modality and collates. The map-style readers
(:class:`~m5mm.datasets.base_dataset.BaseProductDataset`) and the shard reader
(:class:`~m5mm.datasets.shards.ShardedDataset`) both build on it, so their samples and batches
are the same.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
from multiprocessing.context import get_spawning_popen
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from m5mm.registry import MODALITIES, TRANSFORMS
from m5mm.structures import BUILTIN_MODALITIES
from m5mm.utils.build import find_registered

from .collation import collate
from .errors import MediaError
from .modalities.base_modality import ModalitySpec, Template
from .paths import resolve_media_path
from .transforms.compose import Compose
from .worker import limit_worker_threads

logger = logging.getLogger(__name__)

MODALITY_CFG_KEYS = ('pipeline', 'source', 'spec')


def build_modality_pipelines(modalities: Optional[Mapping[str, Optional[dict]]]
                             ) -> Tuple[Dict[str, ModalitySpec], Dict[str, Compose]]:
    """Specs and pipelines from a dataset's ``modalities`` config.

    Args:
        modalities: name -> ``dict(pipeline=[transform cfgs], source='raw'|'feature', spec=dict(...))``;
            None = the five built-in modalities with their default pipelines.

    Returns:
        (name -> :class:`ModalitySpec`, name -> :class:`Compose`), in the config's order.
    """
    if modalities is None:
        modalities = {name: None for name in BUILTIN_MODALITIES}
    if not modalities:
        raise ValueError('modalities is empty: configure at least one modality')
    specs: Dict[str, ModalitySpec] = {}
    pipelines: Dict[str, Compose] = {}
    for name, cfg in modalities.items():
        cfg = dict(cfg or {})
        unknown = set(cfg) - set(MODALITY_CFG_KEYS)
        if unknown:
            raise ValueError(f'modalities.{name} has unknown keys {sorted(unknown)}; '
                             f'accepted: {", ".join(MODALITY_CFG_KEYS)}')
        specs[name] = MODALITIES.build(dict(type=name, source=cfg.get('source', 'raw'), **(cfg.get('spec') or {})))
        pipeline = cfg.get('pipeline')
        pipelines[name] = Compose(transforms=specs[name].default_pipeline() if pipeline is None else pipeline)
    return specs, pipelines


def config_input_meta(modalities: Optional[Mapping[str, Optional[dict]]]) -> Dict[str, dict]:
    """The ``inputs`` of the ``meta`` a dataset with this ``modalities`` config reports
    (:meth:`SampleBuilder.input_meta`), from the config alone: of each raw modality's pipeline only
    the transforms that declare ``output_meta`` are built (no tokenizer or processor is loaded)."""
    if modalities is None:
        modalities = {name: None for name in BUILTIN_MODALITIES}
    out: Dict[str, dict] = {}
    for name, cfg in modalities.items():
        cfg = dict(cfg or {})
        if cfg.get('source', 'raw') != 'raw':
            continue
        steps = cfg.get('pipeline')
        if steps is None:
            steps = MODALITIES.build(dict(type=name, **(cfg.get('spec') or {}))).default_pipeline()
        declaring = [s for s in steps if not isinstance(s, dict)
                     or hasattr(find_registered(TRANSFORMS, s.get('type', '')), 'output_meta')]
        meta = Compose(transforms=declaring).output_meta()
        if meta:
            out[name] = meta
    return out


class SampleBuilder:
    """Modality specs, pipelines, seeds and collate of a product dataset (a mixin).

    Subclasses call :meth:`_init_samples` first and implement :meth:`_probe_template`.
    """

    data_root: str
    tokenizer: Any = None

    def _init_samples(self, modalities: Optional[Mapping[str, Optional[dict]]], seed: int, *,
                      specs: Optional[Mapping[str, ModalitySpec]] = None,
                      pipelines: Optional[Mapping[str, Compose]] = None) -> None:
        """Build the specs and pipelines of ``modalities`` (or take already built ``specs`` and
        ``pipelines``, e.g. another dataset's)."""
        self.seed = seed
        self._epoch = multiprocessing.RawValue('q', 0)  # shared with (persistent) DataLoader workers
        if specs is None or pipelines is None:
            specs, pipelines = build_modality_pipelines(modalities)
        self.specs: Dict[str, ModalitySpec] = dict(specs)
        self.pipelines: Dict[str, Compose] = dict(pipelines)
        self._templates: Dict[str, Template] = {}
        self._threads_pid: Optional[int] = None

    def input_meta(self) -> Dict[str, dict]:
        """modality -> what its pipeline's output fixes (``image_size``, ...; :meth:`Compose.output_meta`),
        for the modalities read from raw media: the ``inputs`` of the dataset's ``meta``."""
        metas = {name: self.pipelines[name].output_meta() for name, spec in self.specs.items()
                 if spec.source == 'raw'}
        return {name: meta for name, meta in metas.items() if meta}

    # ------------------------------------------------------------ epoch and seeds
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
        if get_spawning_popen() is None:  # an ordinary pickle, not a worker start: copy the values
            state.update({k: int(state[k].value) for k in self._shared_keys() if k in state})
        return state

    def __setstate__(self, state: dict) -> None:
        for key in self._shared_keys():
            if isinstance(state.get(key), int):
                state[key] = multiprocessing.RawValue('q', state[key])
        self.__dict__.update(state)

    def _shared_keys(self) -> tuple:
        """Attributes kept in shared memory (``multiprocessing.RawValue``)."""
        return ('_epoch',)

    def sample_seed(self, index: int, repeat: int = 0) -> int:
        """Seed of sample ``index`` this epoch (a function of seed, epoch and index only; ``repeat``
        tells apart copies of one sample drawn more than once in an epoch)."""
        entropy = [self.seed, self.epoch, index] + ([repeat] if repeat else [])
        return int(np.random.SeedSequence(entropy).generate_state(1)[0])

    def _limit_threads(self) -> None:
        if self._threads_pid != os.getpid():  # once per process: a worker gets one BLAS/OpenMP thread
            self._threads_pid = os.getpid()
            limit_worker_threads()

    # ------------------------------------------------------------ one modality
    def base_results(self, name: str, record_id: str, index: int, seed: int) -> Dict[str, Any]:
        """The ``results`` dict a pipeline starts from (without ``path`` / ``value``)."""
        return dict(id=record_id, index=index, modality=name, source=self.specs[name].source,
                    data_root=self.data_root, tokenizer=self.tokenizer, seed=seed)

    def run_pipeline(self, name: str, value: Any, record_id: str, index: int,
                     errors: Optional[Dict[str, str]], *, seed: Optional[int] = None
                     ) -> Optional[Dict[str, Any]]:
        """Run modality ``name``'s pipeline on a record's field ``value`` (a path relative to the
        data root, or the value itself); None if absent or unusable (reason to ``errors``)."""
        if value is None:
            return None
        spec = self.specs[name]
        results = self.base_results(name, record_id, index, self.sample_seed(index) if seed is None else seed)
        try:
            if spec.reads_path:
                results['path'] = resolve_media_path(self.data_root, value)
            else:
                results['value'] = value
            results = self.pipelines[name](results)
        except MediaError as exc:
            return self._media_failed(name, record_id, exc, errors)
        return self.finish_item(name, results)

    def _media_failed(self, name: str, record_id: str, exc: MediaError,
                      errors: Optional[Dict[str, str]]) -> None:
        if errors is not None:
            errors[name] = exc.reason
        logger.warning('m5mm: %s of %r treated as absent: %s', name, record_id, exc)
        return None

    def finish_item(self, name: str, results: Dict[str, Any]) -> Dict[str, Any]:
        """The sample entry of modality ``name`` from a pipeline's ``results``."""
        spec = self.specs[name]
        missing = [k.name for k in spec.item_keys if k.name not in results]
        if missing:
            raise KeyError(f'the {name} pipeline {self.pipelines[name]!r} did not produce {missing}')
        item = {k.name: results[k.name] for k in spec.item_keys}
        if name not in self._templates:
            self._templates[name] = spec.template_of(item)
        return item

    # ------------------------------------------------------------ batches
    def _probe_template(self, name: str) -> bool:
        """Load a few samples that have modality ``name`` (filling ``_templates``); False if none."""
        raise NotImplementedError

    def template(self, name: str) -> Template:
        """Item shapes of modality ``name`` for batches that lack it entirely: from a loaded
        sample, else by loading the first few samples that have it, else the spec's declared shapes."""
        if name not in self._templates and not self._probe_template(name):
            logger.warning('m5mm: no loadable %s sample found; padding absent batches with the declared '
                           'shapes %s (set modalities.%s.spec.shapes)', name,
                           self.specs[name].default_template(), name)
            self._templates[name] = self.specs[name].default_template()
        return self._templates[name]

    def collate(self, samples: List[dict]) -> dict:
        """Batch samples (a DataLoader ``collate_fn``; picklable with the dataset)."""
        return collate(samples, modalities=self.specs, template_fn=self.template)
