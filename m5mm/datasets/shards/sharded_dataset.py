"""Streaming products from WebDataset shards with equal steps per rank and exact resume."""
from __future__ import annotations

import logging
import multiprocessing
import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from m5mm.registry import DATASETS

from ..base_dataset import DEFAULT_TOKENIZER
from ..errors import MediaError
from ..records import normalize_splits
from ..sample_builder import SampleBuilder
from ..tokenizer import TextTokenizer, load_tokenizer
from . import epoch_plan
from .layout import INDEX_FILE, TOKENIZER_DIR, read_json
from .sample_codec import CORRUPT_SAMPLE, is_complete, parse_meta, stored_inputs
from .shard_reader import ShardDamaged, iter_shard
from .shard_source import ShardSource
from .stream import StreamReader
from .temp_media import run_on_temp_file

logger = logging.getLogger(__name__)
PROBE_SAMPLES = 16


@DATASETS.register_module()
class ShardedDataset(SampleBuilder, IterableDataset):
    """Products from shard folders written by ``tools/make_shards.py``: the same samples, batches
    and ``meta`` as :class:`~m5mm.datasets.ManifestDataset`, read as a stream.

    Each epoch the shards are ordered from (seed, epoch); every rank reads an equal number of
    whole batches (the remainder below ``world_size * batch_size`` samples is left out of that
    epoch) and each DataLoader worker a contiguous part of its rank's range through a seeded
    shuffle buffer. :func:`m5mm.datasets.loaders.build_dataloader` sets this up
    (:meth:`configure_stream`); resuming mid-epoch skips what was read without decoding it.

    Args:
        data_root: a shard folder (with ``index.json``); or give ``sources``.
        sources: ``[dict(path=DIR, weight=3.0), ...]``: several shard folders mixed with these
            sampling weights (share of each epoch's samples, repeating a source if needed).
        split: a split name, a list of names, or None for every split in the shards.
        modalities: as for ManifestDataset; each must be in the shards, its pipeline starting with
            the steps that were run when they were built (they are not run again). None: the
            modalities and pipelines the (first) source was built with.
        tokenizer: ``dict(path=None)``: path None = the first source's ``tokenizer/`` folder (the one
            the shards were built with; other keys are ignored); None: no tokenizer.
        seed: base seed of per-sample augmentation randomness.
        shuffle_buffer: samples a worker holds to shuffle within its range.
        epoch_samples: samples per epoch when mixing weighted sources (default: all of them).
    """

    def __init__(self, *, data_root: Optional[str] = None, sources: Optional[Sequence[Mapping]] = None,
                 split: Union[str, Sequence[str], None] = 'train',
                 modalities: Optional[Mapping[str, Optional[dict]]] = None,
                 tokenizer: Optional[dict] = DEFAULT_TOKENIZER,
                 seed: int = 0, shuffle_buffer: int = 1000, epoch_samples: Optional[int] = None) -> None:
        source_cfgs = _source_cfgs(data_root, sources)
        self.data_root = os.path.abspath(source_cfgs[0]['path'])
        self.splits = normalize_splits(split)
        self.shuffle_buffer = shuffle_buffer
        if modalities is None:  # the modalities and pipelines the shards were built with
            modalities = read_json(os.path.join(self.data_root, INDEX_FILE))['source'].get('modalities')
        self._init_samples(modalities, seed)
        weighted = any('weight' in cfg for cfg in source_cfgs) or len(source_cfgs) > 1
        self.sources = [ShardSource(path=cfg['path'], splits=self.splits, specs=self.specs,
                                    weight=float(cfg.get('weight', 1.0)) if weighted else None,
                                    pipelines={n: self.pipelines[n].transforms for n in self.specs})
                        for cfg in source_cfgs]
        self.targets = epoch_plan.source_targets([s.num_samples for s in self.sources],
                                                 [s.weight for s in self.sources] if weighted else None,
                                                 epoch_samples)
        self._source_offsets = np.cumsum([0] + [s.num_samples for s in self.sources])
        self._instance_offsets = np.cumsum([0] + [s.num_instances for s in self.sources])
        self.categories = sorted({c for s in self.sources for c in s.categories})
        self.category_to_index = {name: i for i, name in enumerate(self.categories)}
        self.tokenizer = self._load_tokenizer(tokenizer)
        for spec in self.specs.values():
            spec.pad_id = self.tokenizer.pad_id if self.tokenizer is not None else spec.pad_id
        self.meta = self._build_meta()
        self._skip = multiprocessing.RawValue('q', 0)
        self.configure_stream(batch_size=1)

    # ------------------------------------------------------------ construction
    def _load_tokenizer(self, cfg: Optional[dict]) -> Optional[TextTokenizer]:
        if cfg is None:
            return None
        path = cfg.get('path') or os.path.join(self.data_root, TOKENIZER_DIR)
        needs = any(not spec.reads_path for spec in self.specs.values())
        if cfg.get('path') or needs or os.path.isfile(os.path.join(path, 'tokenizer.json')):
            return load_tokenizer(path)  # a missing folder raises a clear error
        return None

    def _build_meta(self) -> dict:
        feature_dims = {}
        for name, spec in self.specs.items():
            if spec.source == 'feature':
                dim = self.sources[0].index['modalities'][name].get('feature_dim')
                feature_dims[name] = dim
                if dim is not None and 'feats' not in spec.shapes:
                    spec.shapes['feats'] = (dim,)
        return dict(modalities=list(self.specs), sources={n: s.source for n, s in self.specs.items()},
                    tokenizer=self.tokenizer.meta() if self.tokenizer is not None else None,
                    categories=list(self.categories), num_categories=len(self.categories),
                    num_instances=int(self._instance_offsets[-1]), feature_dims=feature_dims,
                    inputs=self.input_meta())

    # ------------------------------------------------------------ the stream plan
    def configure_stream(self, *, batch_size: int, num_workers: int = 0, shuffle: bool = False,
                         drop_last: bool = False, world_size: int = 1, rank: int = 0, seed: int = 0,
                         pad: bool = False) -> None:
        """Set how the DataLoader reads this dataset (called by ``build_dataloader``).

        Args:
            batch_size: samples per batch (per rank).
            num_workers: DataLoader workers: the number of streams per rank (0 counts as 1).
            shuffle: seeded shard order and shuffle buffer per epoch (training); else file order.
            drop_last: equal whole batches on every rank (training); else one rank reads all.
            world_size, rank: the processes reading the data and this one's rank.
            seed: seed of the order (the run's seed).
            pad: distributed evaluation (one worker, no shuffle): each rank reads its share of every
                sample and repeats its last one so that all ranks run the same number of batches.
        """
        self.batch_size, self.num_streams = int(batch_size), max(1, int(num_workers))
        self.shuffle, self.drop_last, self.world_size, self.rank = shuffle, drop_last, world_size, rank
        self.order_seed, self.pad = seed, pad
        if pad:
            if shuffle or drop_last or self.num_streams != 1:
                raise ValueError('pad is for evaluation: no shuffle, no drop_last, num_workers=0')
            start, stop, extra = epoch_plan.padded_rank_range(self.num_samples, rank=rank, world_size=world_size,
                                                              batch_size=self.batch_size)
            self.num_batches = (stop - start + extra) // self.batch_size
            return
        self.num_batches = epoch_plan.rank_batches(self.num_samples, batch_size=self.batch_size,
                                                   world_size=world_size, drop_last=drop_last)

    @property
    def num_samples(self) -> int:
        """Samples in one epoch's sequence (all ranks together)."""
        return int(sum(self.targets))

    def __len__(self) -> int:
        """Samples this rank reads per epoch."""
        if self.pad:
            return self.num_batches * self.batch_size
        return min(self.num_batches * self.batch_size, self.num_samples)

    def _shared_keys(self) -> tuple:
        return ('_epoch', '_skip')

    def set_resume(self, batches_done: int) -> None:
        """Start the next iteration after ``batches_done`` batches of the current epoch."""
        self._skip.value = int(batches_done)

    def state_dict(self) -> Dict[str, Any]:
        """What a resume must agree with (JSON); the position itself is the trainer's batch count."""
        return dict(num_streams=self.num_streams, world_size=self.world_size, batch_size=self.batch_size,
                    seed=self.order_seed, num_samples=self.num_samples,
                    sources=[s.path for s in self.sources], shuffle_buffer=self.shuffle_buffer)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Check that this run reads the same streams as the saved one (else exact resume is impossible)."""
        ours = self.state_dict()
        differ = {k: (v, ours.get(k)) for k, v in state.items() if k != 'sources' and ours.get(k) != v}
        if differ:
            hint = (f'; set train_dataloader.num_workers={state["num_streams"]}' if 'num_streams' in differ else '')
            raise ValueError(f'cannot resume the shard stream exactly: saved vs now {differ}{hint} '
                             f'(0 and 1 workers are the same single stream)')

    # ------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[dict]:
        self._limit_threads()
        info = get_worker_info()
        workers = 1 if info is None else info.num_workers
        if workers != self.num_streams:
            raise RuntimeError(f'the stream plan was made for {self.num_streams} workers, the DataLoader has '
                               f'{workers}: build loaders with m5mm.datasets.loaders.build_dataloader')
        skip, epoch = int(self._skip.value), self.epoch
        stream = ((0 if info is None else info.id) + skip) % self.num_streams
        pad = 0
        if self.pad:
            start, stop, pad = epoch_plan.padded_rank_range(self.num_samples, rank=self.rank,
                                                            world_size=self.world_size, batch_size=self.batch_size)
        else:
            start, stop = epoch_plan.stream_range(self.num_samples, rank=self.rank, stream=stream,
                                                  num_streams=self.num_streams, batch_size=self.batch_size,
                                                  num_batches=self.num_batches)
        order = epoch_plan.stream_order(start, stop, seed=self.order_seed, epoch=epoch, rank=self.rank,
                                        stream=stream, buffer_size=self.shuffle_buffer, shuffle=self.shuffle)
        done = epoch_plan.consumed_batches(skip, stream=stream, num_streams=self.num_streams) * self.batch_size
        segments = epoch_plan.epoch_segments([[s['samples'] for s in src.shards] for src in self.sources],
                                             self.targets, seed=self.order_seed, epoch=epoch, shuffle=self.shuffle)
        starts = np.cumsum([0] + [seg.stop for seg in segments])[:-1]
        return iter(StreamReader(order=order, skip=min(done, len(order)), segments=segments, starts=starts,
                                 shard_of=self._shard_of, decode=self._decode, pad=pad))

    def _shard_of(self, segment: epoch_plan.Segment) -> Tuple[str, dict]:
        source = self.sources[segment.source]
        return source.shard_path(segment.shard), source.shards[segment.shard]

    def _decode(self, segment: epoch_plan.Segment, shard: dict, local: int, members: Dict[str, bytes]) -> dict:
        source = self.sources[segment.source]
        where = f'{source.shard_path(segment.shard)}#{local}'
        index = int(self._source_offsets[segment.source]) + shard['offset'] + local
        return self.decode_sample(source, segment.source, members, index, where,
                                  seed=self.sample_seed(index, segment.repeat))

    def decode_sample(self, source: ShardSource, source_index: int, members: Dict[str, bytes], index: int,
                      where: str, *, seed: int, only: Optional[str] = None) -> dict:
        """The sample dict of one shard sample (``only``: just that modality)."""
        try:
            meta = parse_meta(members.get('json'), where)
        except MediaError as exc:
            raise ShardDamaged(str(exc)) from None
        category = self.category_to_index.get(meta.get('category'), -1) if meta.get('category') is not None else -1
        instance = meta.get('instance_index', -1)
        instance = instance + int(self._instance_offsets[source_index]) if instance >= 0 else -1
        sample: Dict[str, Any] = dict(id=meta['id'], index=index, category=category, instance=instance)
        errors = {k: v for k, v in meta.get('errors', {}).items() if only is None or k == only}
        for name in self.specs:
            if only is not None and name != only:
                continue
            if name in meta['values']:
                sample[name] = self._finish_value(name, meta, index, where, seed, errors)
            elif name in meta['media']:
                sample[name] = self._finish_medium(source, name, meta, members, index, where, seed, errors)
            else:
                sample[name] = None
        sample['errors'] = errors
        return sample

    def _finish_value(self, name: str, meta: dict, index: int, where: str, seed: int,
                      errors: Dict[str, str]) -> Optional[dict]:
        try:
            value = self.specs[name].parse_value(meta['values'][name])
        except ValueError as exc:   # a damaged sample JSON: counted like a damaged medium
            return self._media_failed(name, meta['id'], MediaError(CORRUPT_SAMPLE, f'{where}: {exc}'), errors)
        return self.run_pipeline(name, value, meta['id'], index, errors, seed=seed)

    def _finish_medium(self, source: ShardSource, name: str, meta: dict, members: Dict[str, bytes], index: int,
                       where: str, seed: int, errors: Dict[str, str]) -> Optional[dict]:
        results = self.base_results(name, meta['id'], index, seed)
        try:
            results.update(stored_inputs(name, meta, members, where))
            rest = source.rest[name]
            if 'data' in results and not source.reads_bytes[name]:
                results = run_on_temp_file(rest, results)
            else:
                for transform in rest:
                    results = transform(results)
        except MediaError as exc:
            return self._media_failed(name, meta['id'], exc, errors)
        return self.finish_item(name, results)

    # ------------------------------------------------------------ templates
    def _probe_template(self, name: str) -> bool:
        tried = 0
        for source_index, source in enumerate(self.sources):
            for shard_index, shard in enumerate(source.shards):
                try:
                    for key, members in iter_shard(source.shard_path(shard_index)):
                        if not is_complete(members):
                            continue
                        meta = parse_meta(members.get('json'), key)
                        if name not in meta['media'] and name not in meta['values']:
                            continue
                        sample = self.decode_sample(source, source_index, members, 0, key, seed=self.sample_seed(0),
                                                    only=name)
                        if sample[name] is not None:
                            return True
                        tried += 1
                        if tried >= PROBE_SAMPLES:
                            return False
                except (ShardDamaged, MediaError):
                    continue
        return False

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(sources={[s.path for s in self.sources]}, split={self.splits}, '
                f'samples={self.num_samples}, modalities={list(self.specs)})')


def _source_cfgs(data_root: Optional[str], sources: Optional[Sequence[Mapping]]) -> List[dict]:
    if (data_root is None) == (sources is None):
        raise ValueError('ShardedDataset needs data_root=DIR or sources=[dict(path=DIR, weight=1.0), ...]')
    if sources is None:
        return [dict(path=data_root)]
    cfgs = [dict(s) for s in sources]
    for cfg in cfgs:
        unknown = set(cfg) - {'path', 'weight'}
        if unknown or 'path' not in cfg:
            raise ValueError(f'a source is dict(path=DIR, weight=W), got {cfg}')
        if 'weight' in cfg and not float(cfg['weight']) > 0:
            raise ValueError(f'source weights must be > 0, got {cfg}')
    if not cfgs:
        raise ValueError('sources is empty')
    return cfgs
