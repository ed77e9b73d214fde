"""Planning the emoji catalogue: subgroups -> emoji (instances) -> listings, splits, missing and wrong media.

Everything is drawn from one seeded generator; nothing is written. Categories are the largest
subgroups with at least ``min_emoji_per_category`` emoji (as many as ``num_products`` allows at 6
records each, or ``num_categories``); records are shared out in proportion to the subgroups' sizes
(a natural long tail: country flags, person roles, mammals ... first). The split rule is the demo
catalogue's (docs/demo_data.md): whole instances go to train / val / evaluation, an evaluation
instance gives one listing to ``query`` and the others to ``gallery``.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..demo.design import MODALITY_NAMES
from ..demo.plan import MIN_RECORDS_PER_CATEGORY, allocate_counts, assign_splits, manifest_line
from . import design as d
from .media import glyph_color, render_glyph
from .sources import (EMOJI_TEST_PATH, FONT_PATH, EmojiEntry, aliases, load_font, other_language_names,
                      read_emoji_test)
from .text import make_table, make_title

logger = logging.getLogger(__name__)
MEDIA = ('image', 'video', 'audio')


@dataclass
class EmojiRecord:
    """One listing (manifest line) before its media are rendered."""

    id: str
    instance: d.EmojiInstance
    split: str
    title: str
    table: List[List[str]]
    voice: str
    seed: int
    shown: Dict[str, d.EmojiInstance]          # media modality -> the instance its file shows
    spoken: str                                # what the voice-over reads
    modalities: Tuple[str, ...] = MODALITY_NAMES
    title_from: Optional[str] = None           # id of the record whose title this one carries (noise)
    corrupted: Tuple[str, ...] = field(default_factory=tuple)   # media showing another category's product

    @property
    def category(self) -> str:
        """The category: the emoji's Unicode subgroup."""
        return self.instance.entry.subgroup

    def manifest_entry(self) -> dict:
        """The m5mm manifest line."""
        return manifest_line(self.id, self.title, self.table, self.modalities, split=self.split,
                             category=self.category, instance=self.instance.sku)


@dataclass
class EmojiPlan:
    """The planned records and what was left out on the way."""

    records: List[EmojiRecord]
    categories: List[str]                      # subgroups, largest first
    skipped_emoji: List[str] = field(default_factory=list)   # chosen emoji the font has no picture for


def choose_categories(entries: Sequence[EmojiEntry], *, num_products: int, num_categories: Optional[int],
                      min_emoji: int) -> List[str]:
    """The largest subgroups with at least ``min_emoji`` emoji (ties in file order)."""
    sizes = Counter(e.subgroup for e in entries)
    eligible = [s for s, n in sorted(sizes.items(), key=lambda item: -item[1]) if n >= min_emoji]
    fit = num_products // MIN_RECORDS_PER_CATEGORY
    if num_categories is None:
        num_categories = max(2, min(len(eligible), fit))
    if not 2 <= num_categories <= len(eligible):
        raise ValueError(f'num_categories must be in [2, {len(eligible)}] (subgroups with >= {min_emoji} '
                         f'emoji), got {num_categories}')
    if num_categories > fit:
        raise ValueError(f'num_products={num_products} is too small for {num_categories} categories: every '
                         f'category needs {MIN_RECORDS_PER_CATEGORY} records; use at least '
                         f'{MIN_RECORDS_PER_CATEGORY * num_categories} or fewer categories')
    return eligible[:num_categories]


def listing_counts(rng: np.random.Generator, num_records: int, num_emoji: int) -> List[int]:
    """Listings per instance of a category: 2-4 (about 3) while the category has emoji enough, more after."""
    count = int(np.clip(round(num_records / 3), max(3, -(-num_records // 4)), num_records // 2))
    count = min(count, num_emoji)
    sizes = np.full(count, 2)
    cap = max(4, -(-num_records // count))
    for _ in range(num_records - sizes.sum()):
        sizes[rng.choice(np.flatnonzero(sizes < cap))] += 1
    return sizes.tolist()


def _pick_emoji(rng: np.random.Generator, members: List[EmojiEntry], count: int, *, font_path: str,
                skipped: List[str]) -> List[Tuple[EmojiEntry, str]]:
    """``count`` random emoji of ``members`` that the font can draw, with their dominant colours."""
    chosen = []
    for k in rng.permutation(len(members)):
        if render_glyph(font_path, members[k].chars) is None:
            skipped.append(members[k].sku)
            logger.warning('m5mm: the emoji font has no picture for %s (%s); skipped', members[k].sku, members[k].name)
            continue
        chosen.append((members[k], glyph_color(font_path, members[k].chars)))
        if len(chosen) == count:
            return chosen
    raise ValueError(f'subgroup {members[0].subgroup!r} has only {len(chosen)} emoji the font can draw, '
                     f'{count} needed; is the font older than {members[0].subgroup!r} in emoji-test.txt?')


def _plan_category(rng: np.random.Generator, category: int, instances: List[d.EmojiInstance],
                   sizes: List[int]) -> List[EmojiRecord]:
    records = []
    for instance, size, split in zip(instances, sizes, assign_splits(sizes)):
        for j in range(size):
            title = make_title(rng, instance=instance)
            records.append(EmojiRecord(
                id='', instance=instance, split=split if split != 'eval' else ('query' if j == 0 else 'gallery'),
                title=title, table=make_table(rng, instance=instance), voice=str(rng.choice(d.VOICES)),
                seed=int(rng.integers(2 ** 31)), shown=dict.fromkeys(MEDIA, instance), spoken=title))
    return records


def _drop_modalities(rng: np.random.Generator, records: List[EmojiRecord], rate: float) -> None:
    """Make ``rate`` of the records lose 1-3 modalities, video and audio more often (bazaar's odds)."""
    odds = np.array([d.MISSING_ODDS[m] for m in MODALITY_NAMES])
    for k in rng.choice(len(records), size=round(rate * len(records)), replace=False):
        lost = set(rng.choice(len(MODALITY_NAMES), size=int(rng.integers(1, 4)), replace=False,
                              p=odds / odds.sum()).tolist())
        records[k].modalities = tuple(m for i, m in enumerate(MODALITY_NAMES) if i not in lost)


def _wrong_media(rng: np.random.Generator, records: List[EmojiRecord], rate: float) -> None:
    """Per record and media modality, with chance ``rate``: the file shows (or the voice-over reads)
    a product of another category."""
    instances = list({r.instance.sku: r.instance for r in records}.values())
    others = {c: [i for i in instances if i.category != c] for c in {i.category for i in instances}}
    for record in records:
        corrupted = []
        for modality in MEDIA:
            if rng.random() >= rate:
                continue
            pool = others[record.instance.category]
            donor = pool[int(rng.integers(len(pool)))]
            record.shown[modality] = donor
            if modality == 'audio':
                record.spoken = make_title(rng, instance=donor)
            corrupted.append(modality)
        record.corrupted = tuple(corrupted)


def _swap_titles(rng: np.random.Generator, records: List[EmojiRecord], rate: float) -> None:
    """Give ``rate`` of the records the title of a record of another category (the voice-over keeps its own)."""
    with_text = [k for k, r in enumerate(records) if 'text' in r.modalities]
    clean, categories = [r.title for r in records], np.array([r.instance.category for r in records])
    for k in sorted(rng.choice(with_text, size=min(round(rate * len(records)), len(with_text)), replace=False)):
        donors = np.flatnonzero(categories != categories[k])
        donor = int(donors[int(rng.integers(len(donors)))])
        records[k].title, records[k].title_from = clean[donor], records[donor].id


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'{name} must be in [0, 1], got {value}')


def plan_emoji_dataset(*, num_products: int = 600, seed: int = 0, num_categories: Optional[int] = None,
                       min_emoji_per_category: int = d.MIN_EMOJI_PER_CATEGORY,
                       incomplete_rate: float = d.INCOMPLETE_RATE, wrong_media_rate: float = d.WRONG_MEDIA_RATE,
                       noisy_title_rate: float = d.NOISY_TITLE_RATE, font_path: str = FONT_PATH,
                       emoji_test_path: str = EMOJI_TEST_PATH) -> EmojiPlan:
    """Plan every record of the emoji catalogue (no files), in manifest order.

    Args:
        num_products: number of records (listings, manifest lines); at least 6 per category.
        seed: seed of everything; the same arguments (and sources) give the same plan.
        num_categories: how many subgroups to use (the largest); None: as many as fit 6 records each.
        min_emoji_per_category: a subgroup with fewer emoji is not a category (at least 3).
        incomplete_rate: share of the records that lose 1-3 modalities.
        wrong_media_rate: chance, per record and media modality, that the file shows another category's product.
        noisy_title_rate: share of the records whose title is another category's record's.
        font_path: NotoColorEmoji.ttf (Debian fonts-noto-color-emoji).
        emoji_test_path: Unicode's emoji-test.txt (Debian unicode-data).
    """
    load_font(font_path)   # the first check: a missing font says which package to install
    _, entries = read_emoji_test(emoji_test_path)
    for name, value in (('incomplete_rate', incomplete_rate), ('wrong_media_rate', wrong_media_rate),
                        ('noisy_title_rate', noisy_title_rate)):
        _check_rate(name, value)
    if min_emoji_per_category < 3:
        raise ValueError(f'min_emoji_per_category must be >= 3 (train, val and evaluation instances), '
                         f'got {min_emoji_per_category}')
    categories = choose_categories(entries, num_products=num_products, num_categories=num_categories,
                                   min_emoji=min_emoji_per_category)
    members = [[e for e in entries if e.subgroup == s] for s in categories]
    rng = np.random.default_rng([seed, 22])
    counts = allocate_counts(num_products, np.array([len(m) for m in members]) / sum(map(len, members)),
                             MIN_RECORDS_PER_CATEGORY)
    sizes = [listing_counts(rng, int(c), len(m)) for c, m in zip(counts, members)]
    skipped: List[str] = []
    picked = [_pick_emoji(rng, m, len(s), font_path=font_path, skipped=skipped) for m, s in zip(members, sizes)]
    chosen = [e for group in picked for e, _ in group]
    names, nicknames = other_language_names(chosen, d.LANGUAGES), aliases(chosen)
    records = []
    for c, group in enumerate(picked):
        instances = [d.sample_instance(rng, entry=e, category=c, color=color, names=names[e.chars],
                                       nicknames=tuple(nicknames[e.chars])) for e, color in group]
        records += _plan_category(rng, c, instances, sizes[c])
    records = [records[k] for k in rng.permutation(len(records))]
    for k, record in enumerate(records):
        record.id = f'E{k:05d}'
    _drop_modalities(rng, records, incomplete_rate)
    _wrong_media(rng, records, wrong_media_rate)
    _swap_titles(rng, records, noisy_title_rate)
    return EmojiPlan(records=records, categories=categories, skipped_emoji=skipped)
