"""One shard folder as a source of a :class:`~m5mm.datasets.shards.ShardedDataset`."""
from __future__ import annotations

import logging
import os
from typing import Dict, List, Mapping, Optional, Sequence

from ..modalities.base_modality import ModalitySpec
from .layout import load_index, shard_sizes_differ
from .stages import expand, split_pipeline

logger = logging.getLogger(__name__)


class ShardSource:
    """The shards of the selected splits of one folder, and how to finish its stored media.

    Args:
        path: the shard folder (with ``index.json``).
        splits: the split names to read, in order (None: every split in the index).
        weight: the sampling weight when several sources are mixed (None: plain, one pass).
        specs: the dataset's modality specs (checked against what the shards store).
        pipelines: modality -> the configured pipeline steps (configs or callables).

    Attributes:
        shards: ``[{file, samples, first_index, offset}]`` in order; ``offset`` is the position of the
            shard's first sample among this source's selected samples.
        rest: modality -> transforms still to run on stored data.
        reads_bytes: modality -> whether the first remaining step reads a raw member's bytes.
    """

    def __init__(self, *, path: str, splits: Optional[Sequence[str]], weight: Optional[float],
                 specs: Mapping[str, ModalitySpec], pipelines: Mapping[str, Sequence]) -> None:
        self.path = os.path.abspath(path)
        self.index = load_index(self.path)
        self.weight = weight
        available = list(self.index['splits'])
        unknown = [s for s in (splits or ()) if s not in available]
        if unknown:
            raise ValueError(f'{self.path} has no shards of split(s) {unknown}; it has {available}')
        self.splits = list(splits) if splits is not None else available
        self.shards: List[dict] = []
        offset = 0
        for split in self.splits:
            for shard in self.index['splits'][split]['shards']:
                self.shards.append(dict(shard, split=split, offset=offset))
                offset += shard['samples']
        self.num_samples = offset
        changed = shard_sizes_differ(self.path, self.shards)
        if changed:
            logger.warning('m5mm: %d shard(s) of %s differ in size from the index (e.g. %s): truncated or '
                           'rewritten; their readable samples are used, the rest counted as lost',
                           len(changed), self.path, changed[0])
        self.rest: Dict[str, list] = {}
        self.reads_bytes: Dict[str, bool] = {}
        for name, spec in specs.items():
            self._plan_modality(name, spec, pipelines[name])

    def _plan_modality(self, name: str, spec: ModalitySpec, pipeline: Sequence) -> None:
        stored = self.index['modalities'].get(name)
        where = f'{self.path}: modality {name!r}'
        if stored is None:
            raise ValueError(f'{where} is not in the shards (they hold {sorted(self.index["modalities"])}); '
                             f'rebuild them with that modality or drop it from the config')
        if stored['source'] != spec.source:
            raise ValueError(f'{where} was stored from source {stored["source"]!r}, the config reads '
                             f'source {spec.source!r}')
        self.rest[name], self.reads_bytes[name] = split_pipeline(expand(pipeline), stored['stored_steps'],
                                                                 what=where)

    @property
    def categories(self) -> List[str]:
        return list(self.index['categories'])

    @property
    def num_instances(self) -> int:
        return int(self.index['num_instances'])

    def shard_path(self, shard: int) -> str:
        return os.path.join(self.path, self.shards[shard]['file'])
