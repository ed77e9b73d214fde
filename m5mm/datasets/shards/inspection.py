"""Inspecting a shard folder: what was stored, what was unusable at build time (or now, decoded)."""
from __future__ import annotations

from collections import Counter
from typing import Dict, List

from .sample_codec import is_complete, parse_meta
from .shard_reader import ShardDamaged, iter_shard


def inspect_shards(dataset, *, decode: bool = False, num_examples: int = 3):
    """An :class:`~m5mm.datasets.inspection.InspectionReport` of a :class:`ShardedDataset`'s selected
    shards: every sample's JSON is read (and with ``decode`` every sample is decoded again); a
    damaged shard is listed as a problem of modality ``shard``."""
    from ..inspection import InspectionReport
    in_record, usable, splits, categories = Counter(), Counter(), Counter(), Counter()
    problems: List[tuple] = []
    examples: List[dict] = []
    count = 0
    for source_index, source in enumerate(dataset.sources):
        for shard_index, shard in enumerate(source.shards):
            path = source.shard_path(shard_index)
            try:
                for local, (key, members) in enumerate(iter_shard(path)):
                    if not is_complete(members):
                        continue
                    meta = parse_meta(members.get('json'), f'{path}#{key}')
                    count += 1
                    splits[meta['split']] += 1
                    categories[meta['category']] += 1
                    if len(examples) < num_examples:
                        examples.append(meta)
                    errors: Dict[str, str] = dict(meta['errors'])
                    if decode:
                        errors = dataset.decode_sample(source, source_index, members, local, path,
                                                       seed=dataset.sample_seed(local))['errors']
                    for name in dataset.specs:
                        if name in meta['values'] or name in meta['media'] or name in meta['errors']:
                            in_record[name] += 1
                            if name in errors:
                                problems.append((meta['id'], name, errors[name], shard['file']))
                            else:
                                usable[name] += 1
            except ShardDamaged as exc:
                problems.append(('-', 'shard', 'damaged shard', str(exc)))
    index = dataset.sources[0].index
    return InspectionReport(
        name=repr(dataset), num_records=count, splits=dict(splits), examples=examples,
        in_record={m: in_record[m] for m in dataset.specs}, usable={m: usable[m] for m in dataset.specs},
        problems=problems, category_counts=dict(categories),
        bad_lines=[tuple(b) for b in index['bad_lines']['examples']], decoded=decode)
