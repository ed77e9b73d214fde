"""Writing the emoji catalogue: media files, ``manifest.jsonl``, ``queries.jsonl``, ``noise.json``, ``summary.json``."""
from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np

from m5mm.datasets.query_file import DEFAULT_QUERY_FILE, write_query_file
from ..demo.design import MODALITY_NAMES
from ..demo.generate import write_catalogue
from ..demo.media import write_jpeg, write_mp4, write_wav
from . import design as d
from .media import VIDEO_FPS, render_glyph, render_image, render_scene, render_video
from .plan import MEDIA, EmojiPlan, EmojiRecord, plan_emoji_dataset
from .sources import EMOJI_TEST_PATH, ESPEAK_COMMAND, FONT_PATH, find_espeak, load_font, source_versions
from .speech import SpeechPrefetcher, render_audio, speech_requests


def write_listing_media(root: Path, record: EmojiRecord, *, font_path: str, speech: SpeechPrefetcher) -> None:
    """Render and write the photo, clip and voice-over of ``record`` that it has. Photo and clip of the
    same product share one scene (the clip pans over the photo's backdrop)."""
    entry, scenes = record.manifest_entry(), {}

    def scene(instance: d.EmojiInstance):
        if instance.sku not in scenes:
            glyph = render_glyph(font_path, instance.entry.chars)
            scenes[instance.sku] = render_scene(np.random.default_rng([record.seed, 0]), glyph=glyph,
                                                look=d.FORMS[instance.form].look)
        return scenes[instance.sku]

    if entry['image']:
        write_jpeg(root / entry['image'], render_image(np.random.default_rng([record.seed, 1]),
                                                       scene(record.shown['image'])))
    if entry['video']:
        write_mp4(root / entry['video'], render_video(np.random.default_rng([record.seed, 2]),
                                                      scene(record.shown['video'])), fps=VIDEO_FPS)
    if entry['audio']:
        wave = speech.next(record.spoken, record.voice)
        write_wav(root / entry['audio'], render_audio(np.random.default_rng([record.seed, 3]), wave))


def make_queries(records: List[EmojiRecord]) -> List[dict]:
    """Text queries over the gallery, graded from the plan (not the titles): a category's subgroup words
    (its records 2, the same Unicode group's 1) and each gallery product's English name (it 2, its category 1)."""
    gallery = [r for r in records if r.split == 'gallery']
    queries = []
    for subgroup in sorted({r.category for r in gallery}):
        group = next(r.instance.entry.group for r in gallery if r.category == subgroup)
        queries.append(dict(text=d.subgroup_words(subgroup), relevance={
            r.id: 2 if r.category == subgroup else 1 for r in gallery if r.instance.entry.group == group}))
    for sku in sorted({r.instance.sku for r in gallery}):
        instance = next(r.instance for r in gallery if r.instance.sku == sku)
        queries.append(dict(text=instance.entry.name, relevance={
            r.id: 2 if r.instance.sku == sku else 1 for r in gallery if r.category == instance.entry.subgroup}))
    return [dict(id=f'q{k:04d}', **query) for k, query in enumerate(queries)]


def noise_report(records: List[EmojiRecord]) -> dict:
    """The injected noise by record id: titles of another category's record, and media files showing
    another category's product (``{modality: {id: the sku shown}}``, present files only)."""
    by_id = {r.id: r for r in records}
    titles = [{'id': r.id, 'category': r.category, 'title_from': r.title_from,
               'title_category': by_id[r.title_from].category} for r in records if r.title_from is not None]
    wrong = {m: {r.id: r.shown[m].sku for r in records if m in r.corrupted and m in r.modalities} for m in MEDIA}
    return {'noisy_titles': titles, 'wrong_media': wrong}


def summarize(plan: EmojiPlan, *, sources: Optional[Dict[str, str]] = None) -> dict:
    """Counts per split, modality coverage, listings per instance, categories (head first), noise counts."""
    records, num = plan.records, len(plan.records)
    present = Counter(m for r in records for m in r.modalities)
    listings = Counter(r.instance.sku for r in records)
    categories = Counter(r.category for r in records)
    noise = noise_report(records)
    return {
        'num_records': num, 'num_instances': len(listings),
        'listings_per_instance': {'min': min(listings.values()), 'max': max(listings.values()),
                                  'mean': round(num / len(listings), 3)},
        'splits': {s: sum(r.split == s for r in records) for s in ('train', 'val', 'query', 'gallery')},
        'coverage': {m: present[m] / num for m in MODALITY_NAMES},
        'incomplete_records': sum(len(r.modalities) < len(MODALITY_NAMES) for r in records),
        'single_modality_records': sum(len(r.modalities) == 1 for r in records),
        'categories': {c: categories[c] for c in plan.categories},
        'noisy_titles': len(noise['noisy_titles']),
        'wrong_media': {m: len(ids) for m, ids in noise['wrong_media'].items()},
        'skipped_emoji': plan.skipped_emoji,
        **({'sources': sources} if sources is not None else {}),
    }


def make_emoji_dataset(out_dir: Union[str, Path], *, num_products: int = 600, seed: int = 0,
                       num_categories: Optional[int] = None, min_emoji_per_category: int = d.MIN_EMOJI_PER_CATEGORY,
                       incomplete_rate: float = d.INCOMPLETE_RATE, wrong_media_rate: float = d.WRONG_MEDIA_RATE,
                       noisy_title_rate: float = d.NOISY_TITLE_RATE, font_path: str = FONT_PATH,
                       emoji_test_path: str = EMOJI_TEST_PATH, espeak_command: str = ESPEAK_COMMAND) -> dict:
    """Write the emoji catalogue to ``out_dir`` and return its summary (docs/emoji_data.md).

    Writes ``manifest.jsonl``, ``images/*.jpg``, ``videos/*.mp4``, ``audio/*.wav``, ``queries.jsonl``,
    ``noise.json`` and ``summary.json``; the same arguments and installed sources give the same bytes.

    Args:
        out_dir: output folder (created; existing files of the same names are overwritten).
        espeak_command: the espeak-ng program (Debian espeak-ng).
        **see** :func:`~m5mm.experiments.catalogues.emoji.plan.plan_emoji_dataset` for the others.

    Raises:
        MissingSourceError: the font, emoji-test.txt or espeak-ng is not installed (names the Debian package).
    """
    load_font(font_path)
    espeak = find_espeak(espeak_command)
    plan = plan_emoji_dataset(num_products=num_products, seed=seed, num_categories=num_categories,
                              min_emoji_per_category=min_emoji_per_category, incomplete_rate=incomplete_rate,
                              wrong_media_rate=wrong_media_rate, noisy_title_rate=noisy_title_rate,
                              font_path=font_path, emoji_test_path=emoji_test_path)
    root = Path(out_dir)
    with SpeechPrefetcher(espeak=espeak, requests=speech_requests(plan.records)) as speech:
        write_catalogue(root, plan.records, functools.partial(write_listing_media, font_path=font_path, speech=speech))
    write_query_file(str(root / DEFAULT_QUERY_FILE), make_queries(plan.records))
    summary = summarize(plan, sources=source_versions(emoji_test_path=emoji_test_path, espeak=espeak))
    (root / 'noise.json').write_text(json.dumps(noise_report(plan.records), indent=1) + '\n', encoding='utf-8')
    (root / 'summary.json').write_text(json.dumps(summary, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    return summary
