"""Writing the demo catalogue: media files, ``manifest.jsonl``, ``noise.json`` and ``summary.json``."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable, List, Sequence, Union

import numpy as np

from m5mm.datasets.query_file import DEFAULT_QUERY_FILE, write_query_file
from .design import CATEGORIES, COLORS, MODALITY_NAMES, PITCH_BASE_HZ
from .media import render_audio, render_image, render_video, write_jpeg, write_mp4, write_wav
from .plan import PlannedRecord, plan_demo_dataset
from .queries import make_queries

MEDIA_DIRS = {'image': 'images', 'video': 'videos', 'audio': 'audio'}


def write_record_media(root: Path, record: PlannedRecord) -> None:
    """Render and write the image, video and audio files of ``record`` that it has."""
    inst, entry = record.instance, record.manifest_entry()
    color = COLORS[inst.color]
    if entry['image']:
        rng = np.random.default_rng([record.seed, 0])
        write_jpeg(root / entry['image'], render_image(rng, shape=record.factors['image'], color=color,
                                                       scale=inst.scale))
    if entry['video']:
        rng = np.random.default_rng([record.seed, 1])
        write_mp4(root / entry['video'], render_video(rng, motion=record.factors['video'], speed=inst.speed,
                                                      amplitude=inst.amplitude))
    if entry['audio']:
        rng = np.random.default_rng([record.seed, 2])
        pitch_hz = PITCH_BASE_HZ[record.factors['audio']] * 2 ** (inst.pitch_offset / 12)
        write_wav(root / entry['audio'], render_audio(rng, pitch_hz=pitch_hz, rhythm=inst.rhythm))


def write_catalogue(root: Path, records: Sequence, write_media: Callable[[Path, Any], None]) -> None:
    """The media folders, every record's files (``write_media(root, record)``) and ``manifest.jsonl``
    (each record's ``manifest_entry()``) under ``root``."""
    for folder in MEDIA_DIRS.values():
        (root / folder).mkdir(parents=True, exist_ok=True)
    for record in records:
        write_media(root, record)
    with open(root / 'manifest.jsonl', 'w', encoding='utf-8') as f:
        for record in records:
            f.write(json.dumps(record.manifest_entry(), ensure_ascii=False) + '\n')


def noise_report(records: List[PlannedRecord]) -> dict:
    """The injected noise, by record id: wrong titles and media showing another category's factor."""
    titles = [{'id': r.id, 'category': r.category, 'title_from': r.title_from,
               'title_category': next(s.category for s in records if s.id == r.title_from)}
              for r in records if r.title_from is not None]
    corrupted = {m: [r.id for r in records if m in r.corrupted and m in r.modalities]
                 for m in ('image', 'video', 'audio')}
    return {'noisy_titles': titles, 'corrupted_factors': corrupted}


def summarize(records: List[PlannedRecord]) -> dict:
    """Counts per split, modality coverage, category counts (head first) and noise counts."""
    num = len(records)
    present = Counter(m for r in records for m in r.modalities)
    categories = Counter(r.category for r in records)
    return {
        'num_records': num,
        'num_instances': len({r.instance.sku for r in records}),
        'splits': {s: sum(r.split == s for r in records) for s in ('train', 'val', 'query', 'gallery')},
        'coverage': {m: present[m] / num for m in MODALITY_NAMES},
        'incomplete_records': sum(len(r.modalities) < len(MODALITY_NAMES) for r in records),
        'single_modality_records': sum(len(r.modalities) == 1 for r in records),
        'categories': {c.name: categories[c.name] for c in CATEGORIES if c.name in categories},
        'noisy_titles': sum(r.title_from is not None for r in records),
        'corrupted_factors': {m: len(ids) for m, ids in noise_report(records)['corrupted_factors'].items()},
    }


def make_demo_dataset(out_dir: Union[str, Path], *, num_products: int = 400, seed: int = 0,
                      num_categories: int = len(CATEGORIES)) -> dict:
    """Write the demo catalogue to ``out_dir`` and return its summary.

    Writes ``manifest.jsonl`` (one m5mm manifest record per line, paths relative to
    ``out_dir``), ``images/*.jpg``, ``videos/*.mp4``, ``audio/*.wav``, ``noise.json`` (ids of
    the noisy records), ``queries.jsonl`` (text queries with graded relevance, see
    :mod:`m5mm.experiments.catalogues.demo.queries`) and ``summary.json``. The same arguments give the same bytes.

    Args:
        out_dir: output folder (created; existing files of the same names are overwritten).
        num_products: number of records (manifest lines); at least 6 per category.
        seed: random seed.
        num_categories: how many of the 12 categories to use (the most frequent ones).

    Returns:
        The summary dict of :func:`summarize`.
    """
    root = Path(out_dir)
    records = plan_demo_dataset(num_products=num_products, seed=seed, num_categories=num_categories)
    write_catalogue(root, records, write_record_media)
    write_query_file(str(root / DEFAULT_QUERY_FILE), make_queries(records))
    summary = summarize(records)
    (root / 'noise.json').write_text(json.dumps(noise_report(records), indent=1) + '\n', encoding='utf-8')
    (root / 'summary.json').write_text(json.dumps(summary, indent=1) + '\n', encoding='utf-8')
    return summary
