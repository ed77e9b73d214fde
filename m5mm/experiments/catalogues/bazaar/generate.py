"""Planning and writing the bazaar catalogue (same file layout as the demo catalogue's)."""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np

from ..demo.design import MODALITY_NAMES
from ..demo.generate import write_catalogue
from ..demo.media import render_audio, render_image, render_video, write_jpeg, write_mp4, write_wav
from ..demo.plan import MIN_RECORDS_PER_CATEGORY, allocate_counts, assign_splits, instance_sizes, manifest_line
from . import design as d


@dataclass
class BazaarRecord:
    """One manifest line before its media are rendered."""

    id: str
    category: int
    sku: str
    split: str
    title: str
    table: List[List[str]]
    factors: Dict[str, str]        # shape, motion, pitch, rhythm class shown by the media
    sku_params: Dict[str, float]   # size, speed, amplitude, pitch offset, rhythm position
    color: str
    seed: int
    modalities: Tuple[str, ...] = MODALITY_NAMES
    corrupted: Tuple[str, ...] = field(default_factory=tuple)

    def manifest_entry(self) -> dict:
        """The m5mm manifest line."""
        return manifest_line(self.id, self.title, self.table, self.modalities, split=self.split,
                             category=d.BAZAAR_CATEGORIES[self.category].name, instance=self.sku)


def _weights(num: int) -> np.ndarray:
    weights = np.arange(1, num + 1, dtype=np.float64) ** -(math.log(d.HEAD_TAIL_RATIO) / math.log(num))
    return weights / weights.sum()


def _title(rng: np.random.Generator, spec: d.BazaarCategory, brand: str, model: str) -> str:
    draw = rng.random()
    noun = spec.name if draw < 0.4 else d.DEPARTMENT_NOUNS[spec.department] if draw < 0.75 \
        else str(rng.choice(d.GENERIC_NOUNS))
    return f'{brand} {rng.choice(d.ADJECTIVES)} {noun} {model}'


def _factors(rng: np.random.Generator, spec: d.BazaarCategory) -> Tuple[dict, tuple]:
    factors, corrupted = {}, []
    for modality, names in (('image', ('shape',)), ('video', ('motion',)), ('audio', ('pitch', 'rhythm'))):
        wrong = rng.random() < d.FACTOR_NOISE_RATE
        other = d.BAZAAR_CATEGORIES[int(rng.integers(len(d.BAZAAR_CATEGORIES)))]
        for name in names:
            factors[name] = getattr(other if wrong else spec, name)
        if wrong:
            corrupted.append(modality)
    return factors, tuple(corrupted)


def _plan_category(rng: np.random.Generator, category: int, sizes: List[int], skus) -> List[BazaarRecord]:
    spec, records = d.BAZAAR_CATEGORIES[category], []
    for size, split in zip(sizes, assign_splits(sizes)):
        sku, brand = next(skus), str(rng.choice(d.BRANDS))
        model, color = f'{rng.choice(("K", "M", "Z"))}{int(rng.integers(10, 99))}', str(rng.choice(list(d.COLORS)))
        params = dict(scale=rng.uniform(0.4, 0.85), speed=rng.uniform(0.3, 0.9), amplitude=rng.uniform(0.12, 0.3),
                      pitch_offset=rng.uniform(-4.0, 4.0), rhythm=rng.random())
        for j in range(size):
            table = [['brand', brand], ['material', spec.material], ['weight', f'{int(rng.integers(1, 20)) * 50} g']]
            if rng.random() < 0.5:
                table.append(['type', spec.name])
            factors, corrupted = _factors(rng, spec)
            records.append(BazaarRecord(
                id='', category=category, sku=sku, title=_title(rng, spec, brand, model), table=table,
                split=split if split != 'eval' else ('query' if j == 0 else 'gallery'), factors=factors,
                sku_params={k: float(v) for k, v in params.items()}, color=color, corrupted=corrupted,
                seed=int(rng.integers(2 ** 31))))
    return records


def plan_bazaar_dataset(*, num_products: int = 600, seed: int = 0) -> List[BazaarRecord]:
    """Plan every record (no files); the same arguments give the same plan."""
    num_categories = len(d.BAZAAR_CATEGORIES)
    if num_products < MIN_RECORDS_PER_CATEGORY * num_categories:
        raise ValueError(f'num_products must be >= {MIN_RECORDS_PER_CATEGORY * num_categories}, got {num_products}')
    rng = np.random.default_rng([seed, 7])
    counts = allocate_counts(num_products, _weights(num_categories), MIN_RECORDS_PER_CATEGORY)
    sizes = [instance_sizes(rng, int(c)) for c in counts]
    skus = iter(f'bz-{n:04d}' for n in rng.permutation(sum(map(len, sizes))) + 1)
    records = [r for c in range(num_categories) for r in _plan_category(rng, c, sizes[c], skus)]
    records = [records[k] for k in rng.permutation(len(records))]
    odds = np.array([d.MISSING_ODDS[m] for m in MODALITY_NAMES])
    for k, record in enumerate(records):
        record.id = f'B{k:05d}'
    for k in rng.choice(len(records), size=round(d.INCOMPLETE_RATE * len(records)), replace=False):
        lost = rng.choice(len(MODALITY_NAMES), size=int(rng.integers(1, 4)), replace=False, p=odds / odds.sum())
        records[k].modalities = tuple(m for i, m in enumerate(MODALITY_NAMES) if i not in set(lost.tolist()))
    with_text = [r for r in records if 'text' in r.modalities]
    for k in rng.choice(len(with_text), size=round(d.NOISY_TITLE_RATE * len(records)), replace=False):
        donor = with_text[int(rng.integers(len(with_text)))]
        if donor.category != with_text[k].category:
            with_text[k].title = donor.title
    return records


def _write_media(root: Path, r: BazaarRecord) -> None:
    entry, p = r.manifest_entry(), r.sku_params
    if entry['image']:
        write_jpeg(root / entry['image'], render_image(np.random.default_rng([r.seed, 0]), shape=r.factors['shape'],
                                                       color=d.COLORS[r.color], scale=p['scale']))
    if entry['video']:
        write_mp4(root / entry['video'], render_video(np.random.default_rng([r.seed, 1]), motion=r.factors['motion'],
                                                      speed=p['speed'], amplitude=p['amplitude']))
    if entry['audio']:
        low, high = d.RHYTHM_BPS[r.factors['rhythm']]
        pitch = d.PITCH_HZ[r.factors['pitch']] * 2 ** (p['pitch_offset'] / 12)
        write_wav(root / entry['audio'], render_audio(np.random.default_rng([r.seed, 2]), pitch_hz=pitch,
                                                      rhythm=low + (high - low) * p['rhythm']))


def make_bazaar_dataset(out_dir: Union[str, Path], *, num_products: int = 600, seed: int = 0) -> dict:
    """Write the catalogue (``manifest.jsonl``, ``images/``, ``videos/``, ``audio/``, ``summary.json``)
    to ``out_dir`` and return its summary (records per split, coverage, incomplete records, categories)."""
    root = Path(out_dir)
    records = plan_bazaar_dataset(num_products=num_products, seed=seed)
    write_catalogue(root, records, _write_media)
    present = Counter(m for r in records for m in r.modalities)
    summary = {'num_records': len(records), 'splits': dict(Counter(r.split for r in records)),
               'coverage': {m: present[m] / len(records) for m in MODALITY_NAMES},
               'incomplete_records': sum(len(r.modalities) < len(MODALITY_NAMES) for r in records),
               'corrupted_media': sum(bool(r.corrupted) for r in records),
               'categories': dict(Counter(d.BAZAAR_CATEGORIES[r.category].name for r in records).most_common())}
    (root / 'summary.json').write_text(json.dumps(summary, indent=1) + '\n', encoding='utf-8')
    return summary
