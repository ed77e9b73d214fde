"""Writing one chunk of a split (a fixed range of its products) into WebDataset shards.

The chunk is written into a private temporary folder with ``webdataset.ShardWriter`` (one tar
file, more when ``max_shard_mb`` is reached), the files are renamed into place, and the chunk's
``.stats.json`` is written last: a chunk is complete exactly when its stats file exists, so a
killed build leaves no half shard that a rerun or a reader would take for a whole one.
"""
from __future__ import annotations

import glob
import os
import shutil
from collections import Counter
from typing import Callable, Dict, List, Optional, Sequence

from webdataset import ShardWriter

from ..media_report import MediaReport
from .layout import chunk_prefix, stats_path, write_json_atomic
from .sample_codec import encode_sample

TAR_MTIME = 0.0  # fixed member times: the same data gives byte-identical shards


def report_dict(report: MediaReport) -> dict:
    """A :class:`~m5mm.datasets.MediaReport` as JSON: counts, example ids, samples and the summary."""
    return dict(counts=report.as_dict(), examples={f'{m}: {r}': ids for (m, r), ids in report.examples.items()},
                num_samples=report.num_samples, summary=report.summary('media found unusable at build time'))


def clean_chunk(root: str, split: str, chunk: int) -> None:
    """Remove what an interrupted build of this chunk left (files of an incomplete chunk)."""
    prefix = os.path.join(root, chunk_prefix(split, chunk))
    for path in glob.glob(prefix + '-*.tar'):
        os.remove(path)
    for path in glob.glob(os.path.join(root, split, f'.tmp-{chunk:06d}-*')):
        shutil.rmtree(path, ignore_errors=True)


def write_chunk(dataset, *, root: str, split: str, chunk: int, indices: Sequence[int], first_index: int,
                prefixes: Dict[str, Sequence[Callable]], shard_size: int, max_shard_mb: Optional[float]) -> dict:
    """Write products ``indices`` of ``dataset`` (in-split indices from ``first_index``) as chunk
    ``chunk`` of ``split``; returns (and saves) its stats."""
    clean_chunk(root, split, chunk)
    tmp = os.path.join(root, split, f'.tmp-{chunk:06d}-{os.getpid()}')
    os.makedirs(tmp)
    name = os.path.basename(chunk_prefix(split, chunk))
    writer = ShardWriter(os.path.join(tmp, name + '-%03d.tar'), maxcount=shard_size, verbose=0, encoder=False,
                         maxsize=max_shard_mb * 1e6 if max_shard_mb else float('inf'), mtime=TAR_MTIME)
    files: Dict[str, int] = {}
    in_record, stored, report = Counter(), Counter(), MediaReport()
    try:
        for offset, index in enumerate(indices):
            members, meta = encode_sample(dataset, int(index), first_index + offset, prefixes)
            writer.write(members)
            files[writer.fname] = files.get(writer.fname, 0) + 1
            stored.update(list(meta['values']) + list(meta['media']))
            in_record.update(list(meta['values']) + list(meta['media']) + list(meta['errors']))
            report.update(dict(errors=[meta['errors']], ids=[meta['id']]))
    finally:
        writer.close()
    shards: List[dict] = []
    start = first_index
    for path, count in files.items():
        final = os.path.join(root, split, os.path.basename(path))
        with open(path, 'rb') as handle:
            os.fsync(handle.fileno())
        os.replace(path, final)
        shards.append(dict(file=f'{split}/{os.path.basename(path)}', samples=count,
                           bytes=os.path.getsize(final), first_index=start))
        start += count
    shutil.rmtree(tmp, ignore_errors=True)
    stats = dict(split=split, chunk=chunk, shards=shards, in_record=dict(in_record), stored=dict(stored),
                 report=report_dict(report))
    write_json_atomic(stats_path(root, split, chunk), stats)
    return stats
