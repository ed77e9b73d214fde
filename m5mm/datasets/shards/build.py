"""``tools/make_shards.py`` as a function: a map-style dataset in, a shard folder out.

Every split is cut into *chunks* of ``shard_size`` products in source order, so which products
go to which chunk depends only on the source and the options (``DIR/build_plan.json`` records
them; a rerun or another job-array part with different ones is refused). Chunks are independent:
they are built by ``workers`` spawned processes, a job-array part ``i/n`` builds the chunks
numbered ``i mod n``, a rerun skips complete chunks, and whichever run finds every chunk
complete writes ``index.json``.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from m5mm.registry import DATASETS

from ..records import SPLITS
from .chunk_writer import write_chunk
from .index_writer import write_index
from .layout import FORMAT_VERSION, PLAN_FILE, read_json, stats_path, write_json_atomic
from .stages import build_time_prefix, expand, signature

logger = logging.getLogger(__name__)
_DATASET = None  # the source dataset (sent once to each build worker)


def parse_part(part: Optional[str]) -> Tuple[int, int]:
    """``'i/n'`` -> (i, n), 0 <= i < n; None -> (0, 1)."""
    if not part:
        return 0, 1
    try:
        i, n = (int(x) for x in part.split('/'))
    except ValueError:
        raise ValueError(f'--part must be I/N (e.g. 0/8), got {part!r}') from None
    if not 0 <= i < n:
        raise ValueError(f'--part {part}: need 0 <= I < N')
    return i, n


def build_prefixes(dataset, preprocess: Sequence[str]) -> Dict[str, list]:
    """modality -> its build-time transforms (empty: the medium is stored as the file itself)."""
    unknown = [m for m in preprocess if m not in dataset.specs]
    if unknown:
        raise ValueError(f'preprocess names {unknown}, not among the modalities {list(dataset.specs)}')
    prefixes = {}
    for name in preprocess:
        if not dataset.specs[name].reads_path:
            continue  # titles and tables are stored as text, tokenised when loaded
        steps = expand(dataset.pipelines[name].transforms)
        prefixes[name] = steps[:build_time_prefix(steps)]
        if not prefixes[name]:
            logger.warning('m5mm: the %s pipeline has no build-time step; stored as files', name)
    return prefixes


def _plan(dataset, dataset_cfg: dict, prefixes: Dict[str, list], shard_size: int,
          max_shard_mb: Optional[float]) -> dict:
    return dict(version=FORMAT_VERSION, dataset=json.loads(json.dumps(dataset_cfg, default=str)),
                splits={s: int(len(dataset.index.rows_in([s]))) for s in SPLITS if len(dataset.index.rows_in([s]))},
                shard_size=shard_size, max_shard_mb=max_shard_mb,
                stored_steps={name: [signature(t) for t in steps] for name, steps in prefixes.items()})


def _check_plan(root: str, plan: dict) -> None:
    path = os.path.join(root, PLAN_FILE)
    if os.path.isfile(path):
        old = read_json(path)
        if old != plan:
            differ = sorted(k for k in set(old) | set(plan) if old.get(k) != plan.get(k))
            raise ValueError(f'{root} holds shards of another build ({path} differs in {differ}); '
                             f'use another --out or delete the folder')
    else:
        write_json_atomic(path, plan)


def _set_dataset(dataset) -> None:
    global _DATASET
    _DATASET = dataset


def _run_chunk(task: tuple) -> dict:
    split, chunk, indices, first_index, root, prefixes, shard_size, max_mb = task
    return write_chunk(_DATASET, root=root, split=split, chunk=chunk, indices=indices, first_index=first_index,
                       prefixes=prefixes, shard_size=shard_size, max_shard_mb=max_mb)


def build_shards(dataset_cfg: dict, *, out: str, shard_size: int = 1000, max_shard_mb: Optional[float] = None,
                 preprocess: Sequence[str] = (), workers: int = 1, part: Optional[str] = None,
                 log: Callable[[str], None] = print) -> dict:
    """Build (or resume building) shards of every split of ``dataset_cfg`` into ``out``.

    Returns:
        ``dict(built=..., skipped=..., chunks=..., index=path or None, seconds=..., samples=...)``.
    """
    global _DATASET
    if shard_size < 1:
        raise ValueError(f'shard_size must be >= 1, got {shard_size}')
    part_i, part_n = parse_part(part)
    start = time.perf_counter()
    dataset = DATASETS.build(dict(dataset_cfg, split=None))
    prefixes = build_prefixes(dataset, preprocess)
    os.makedirs(out, exist_ok=True)
    plan = _plan(dataset, dataset_cfg, prefixes, shard_size, max_shard_mb)
    _check_plan(out, plan)
    tasks, skipped, number = [], 0, 0
    for split, count in plan['splits'].items():
        os.makedirs(os.path.join(out, split), exist_ok=True)
        rows = dataset.index.rows_in([split])
        for chunk, first in enumerate(range(0, count, shard_size)):
            number += 1
            if (number - 1) % part_n != part_i:
                continue
            if os.path.isfile(stats_path(out, split, chunk)):
                skipped += 1
                continue
            tasks.append((split, chunk, rows[first:first + shard_size], first, out, prefixes, shard_size,
                          max_shard_mb))
    log(f'{dataset!r}: {number} chunks of <= {shard_size} products; this run builds {len(tasks)}, '
        f'{skipped} were complete' + (f' (part {part_i}/{part_n})' if part_n > 1 else ''))
    _DATASET = dataset
    done = _build_all(tasks, workers, log)
    samples = sum(s['samples'] for stats in done for s in stats['shards'])
    index = write_index(out, dataset, plan) if _all_complete(out, plan) else None
    log(f'index written: {index}' if index else 'index not written yet: chunks of other parts are missing')
    return dict(built=len(done), skipped=skipped, chunks=number, index=index, samples=samples,
                seconds=time.perf_counter() - start)


def _build_all(tasks: List[tuple], workers: int, log: Callable[[str], None]) -> List[dict]:
    done = []
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            done.append(_run_chunk(task))
            log(f'  {task[0]} chunk {task[1]}: {sum(s["samples"] for s in done[-1]["shards"])} products')
        return done
    # spawned, not forked: a fork after the parent decoded media (OpenMP / decoder threads) can deadlock
    with multiprocessing.get_context('spawn').Pool(workers, initializer=_set_dataset, initargs=(_DATASET,)) as pool:
        for stats in pool.imap_unordered(_run_chunk, tasks):
            done.append(stats)
            log(f'  {stats["split"]} chunk {stats["chunk"]}: {sum(s["samples"] for s in stats["shards"])} products')
    return done


def _all_complete(root: str, plan: dict) -> bool:
    return all(os.path.isfile(stats_path(root, split, chunk))
               for split, count in plan['splits'].items() for chunk in range(-(-count // plan['shard_size'])))
