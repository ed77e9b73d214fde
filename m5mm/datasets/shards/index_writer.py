"""Merging the chunks' stats into ``index.json`` (plus ``instances.txt`` and ``tokenizer/``)."""
from __future__ import annotations

import os
import shutil
import time
from collections import defaultdict
from typing import Dict, List

from .layout import (FORMAT_VERSION, INDEX_FILE, INSTANCES_FILE, TOKENIZER_DIR, read_json, stats_path,
                     write_json_atomic)

MAX_EXAMPLES = 3
MAX_BAD_LINES = 20


def _merge_reports(reports: List[dict]) -> dict:
    counts: Dict[str, Dict[str, int]] = defaultdict(lambda: defaultdict(int))
    examples: Dict[str, List[str]] = defaultdict(list)
    for report in reports:
        for modality, reasons in report['counts'].items():
            for reason, n in reasons.items():
                counts[modality][reason] += n
        for key, ids in report['examples'].items():
            examples[key] = (examples[key] + ids)[:MAX_EXAMPLES]
    total = sum(n for reasons in counts.values() for n in reasons.values())
    return dict(counts={m: dict(r) for m, r in counts.items()}, examples=dict(examples),
                num_samples=sum(r['num_samples'] for r in reports), total=total)


def _copy_tokenizer(root: str, dataset) -> dict:
    if dataset.tokenizer is None:
        return dict(path=None, meta=None)
    target = os.path.join(root, TOKENIZER_DIR)
    if not os.path.isdir(target):
        tmp = f'{target}.tmp{os.getpid()}'
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(dataset.tokenizer.path, tmp)
        os.replace(tmp, target)
    return dict(path=TOKENIZER_DIR, meta=dataset.tokenizer.meta())


def _write_instances(root: str, dataset) -> None:
    path = os.path.join(root, INSTANCES_FILE)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as handle:
        for name in dataset.instance_names:
            handle.write(name.replace('\n', ' ') + '\n')
    os.replace(tmp, path)


def write_index(root: str, dataset, plan: dict) -> str:
    """Write ``root/index.json`` from the complete chunks of ``plan``; returns its path."""
    splits, stats_all = {}, []
    for split, count in plan['splits'].items():
        chunks = [read_json(stats_path(root, split, c)) for c in range(-(-count // plan['shard_size']))]
        stats_all += chunks
        shards = [shard for stats in chunks for shard in stats['shards']]
        splits[split] = dict(samples=sum(s['samples'] for s in shards), shards=shards)
    modalities = {}
    for name, spec in dataset.specs.items():
        steps = plan['stored_steps'].get(name, [])
        modalities[name] = dict(
            source=spec.source, field=spec.record_field, kind='value' if not spec.reads_path else
            ('preprocessed' if steps else 'file'), stored_steps=steps,
            feature_dim=dataset.meta['feature_dims'].get(name),
            in_record={s['split']: 0 for s in stats_all}, stored={s['split']: 0 for s in stats_all})
        for stats in stats_all:
            modalities[name]['in_record'][stats['split']] += stats['in_record'].get(name, 0)
            modalities[name]['stored'][stats['split']] += stats['stored'].get(name, 0)
    _write_instances(root, dataset)
    index = dict(version=FORMAT_VERSION, created=time.strftime('%Y-%m-%d %H:%M:%S'), source=plan['dataset'],
                 shard_size=plan['shard_size'], max_shard_mb=plan['max_shard_mb'], splits=splits,
                 modalities=modalities, categories=list(dataset.categories),
                 num_instances=len(dataset.instance_names), instances_file=INSTANCES_FILE,
                 tokenizer=_copy_tokenizer(root, dataset),
                 build_report=_merge_reports([s['report'] for s in stats_all]),
                 bad_lines=dict(count=dataset.num_bad_lines,
                                examples=[list(b) for b in dataset.bad_lines[:MAX_BAD_LINES]]))
    path = os.path.join(root, INDEX_FILE)
    write_json_atomic(path, index)
    return path
