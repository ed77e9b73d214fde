"""Planning the demo catalogue: categories -> SKUs -> records, splits, missing modalities, noise.

Everything here is drawn from one seeded generator and nothing touches the disk, so a plan of
thousands of records takes milliseconds (the tests check the rates on large plans).

Split rule: SKUs, not records, are split. Per category, 60% of the records go to ``train``,
10% to ``val`` and 30% to evaluation, whole SKUs at a time (at least one SKU of every
category in each); an evaluation SKU gives its first record to ``query`` and the others to
``gallery``. Query/gallery products are thus never seen in training, as in the paper's
retrieval protocol.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from .catalogue import make_table, make_title
from .design import CATEGORIES, MODALITY_NAMES, InstanceSpec, category_weights, sample_instance

SPLIT_SHARES = {'train': 0.6, 'val': 0.1, 'eval': 0.3}
MIN_RECORDS_PER_CATEGORY = 6  # three SKUs of two records: train, val, query + gallery
INCOMPLETE_RATE = 0.2       # records missing at least one modality
NOISY_TITLE_RATE = 0.05     # records whose title belongs to a product of another category
FACTOR_NOISE_RATE = 0.1     # per record and media modality: a wrong shape / motion / pitch band
FACTORS = {'image': 'shape', 'video': 'motion', 'audio': 'pitch'}


@dataclass
class PlannedRecord:
    """One manifest line before its media are rendered."""

    id: str
    instance: InstanceSpec
    split: str
    title: str
    table: List[List[str]]
    factors: Dict[str, str]          # modality -> rendered category factor (shape, motion, pitch)
    seed: int
    modalities: Tuple[str, ...] = MODALITY_NAMES
    title_from: Optional[str] = None  # id of the record whose title this one carries (noise)
    corrupted: Tuple[str, ...] = field(default_factory=tuple)  # modalities showing a wrong factor

    @property
    def category(self) -> str:
        """The category's name."""
        return CATEGORIES[self.instance.category].name

    def manifest_entry(self) -> dict:
        """The m5mm manifest line (paths relative to the dataset root, absent modality = None)."""
        return manifest_line(self.id, self.title, self.table, self.modalities, category=self.category,
                             instance=self.instance.sku, split=self.split)


def manifest_line(record_id: str, title: str, table: list, modalities, *, category: str, instance: str,
                  split: str) -> dict:
    """A synthetic catalogue's manifest line: media at ``images/<id>.jpg``, ``videos/<id>.mp4``,
    ``audio/<id>.wav``; a modality not in ``modalities`` is None."""
    has = set(modalities)
    return {'id': record_id, 'text': title if 'text' in has else None, 'table': table if 'table' in has else None,
            'image': f'images/{record_id}.jpg' if 'image' in has else None,
            'video': f'videos/{record_id}.mp4' if 'video' in has else None,
            'audio': f'audio/{record_id}.wav' if 'audio' in has else None,
            'category': category, 'instance': instance, 'split': split}


def allocate_counts(total: int, weights: np.ndarray, minimum: int) -> np.ndarray:
    """Split ``total`` by ``weights`` (largest remainder), then lift every count to ``minimum``."""
    raw = weights * total
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind='stable')[:total - counts.sum()]] += 1
    for k in range(len(counts)):
        while counts[k] < minimum:
            counts[int(np.argmax(counts))] -= 1
            counts[k] += 1
    return counts


def instance_sizes(rng: np.random.Generator, num_records: int) -> List[int]:
    """Record counts (2-4 each, about 3) of the SKUs of a category with ``num_records`` >= 6 records."""
    low, high = max(3, -(-num_records // 4)), num_records // 2
    sizes = np.full(int(np.clip(round(num_records / 3), low, high)), 2)
    for _ in range(num_records - sizes.sum()):
        sizes[rng.choice(np.flatnonzero(sizes < 4))] += 1
    return sizes.tolist()


def assign_splits(sizes: List[int]) -> List[str]:
    """Split of each SKU (``train``/``val``/``eval``) given its record count, in order."""
    total, taken = sum(sizes), dict.fromkeys(SPLIT_SHARES, 0)
    splits = []
    for k, size in enumerate(sizes):
        if k < 3:
            split = ('eval', 'val', 'train')[k]
        else:
            split = max(SPLIT_SHARES, key=lambda s: SPLIT_SHARES[s] * total - taken[s])
        taken[split] += size
        splits.append(split)
    return splits


def _record_factors(rng: np.random.Generator, category: int) -> Tuple[dict, tuple]:
    """The shape, motion and pitch a record shows; each is wrong (another value) with some chance."""
    factors, corrupted = {}, []
    for modality, factor in FACTORS.items():
        value = getattr(CATEGORIES[category], factor)
        if rng.random() < FACTOR_NOISE_RATE:
            others = sorted({getattr(c, factor) for c in CATEGORIES} - {value})
            value = others[int(rng.integers(len(others)))]
            corrupted.append(modality)
        factors[modality] = value
    return factors, tuple(corrupted)


def _plan_category(rng: np.random.Generator, category: int, sizes: List[int], skus: Iterator[str]) -> list:
    records = []
    for size, split in zip(sizes, assign_splits(sizes)):
        instance = sample_instance(rng, sku=next(skus), category=category)
        for j in range(size):
            record_split = split if split != 'eval' else ('query' if j == 0 else 'gallery')
            title = make_title(rng, instance=instance, category=CATEGORIES[category])
            table = make_table(rng, instance=instance, category=CATEGORIES[category])
            factors, corrupted = _record_factors(rng, category)
            records.append(PlannedRecord(id='', instance=instance, split=record_split, title=title,
                                         table=table, factors=factors, corrupted=corrupted,
                                         seed=int(rng.integers(2 ** 31))))
    return records


def _drop_modalities(rng: np.random.Generator, records: List[PlannedRecord]) -> None:
    """Make :data:`INCOMPLETE_RATE` of the records keep only 1-4 random modalities."""
    for k in rng.choice(len(records), size=round(INCOMPLETE_RATE * len(records)), replace=False):
        keep = rng.choice(len(MODALITY_NAMES), size=int(rng.integers(1, len(MODALITY_NAMES))), replace=False)
        records[k].modalities = tuple(MODALITY_NAMES[m] for m in sorted(keep))


def _swap_titles(rng: np.random.Generator, records: List[PlannedRecord]) -> None:
    """Give :data:`NOISY_TITLE_RATE` of the records with a title the title of another category's record."""
    with_text = [k for k, r in enumerate(records) if 'text' in r.modalities]
    count = min(round(NOISY_TITLE_RATE * len(records)), len(with_text))
    clean = [r.title for r in records]
    for k in sorted(rng.choice(with_text, size=count, replace=False)):
        donors = [j for j, r in enumerate(records) if r.instance.category != records[k].instance.category]
        donor = donors[int(rng.integers(len(donors)))]
        records[k].title, records[k].title_from = clean[donor], records[donor].id


def plan_demo_dataset(*, num_products: int = 400, seed: int = 0,
                      num_categories: int = len(CATEGORIES)) -> List[PlannedRecord]:
    """Plan every record of the demo catalogue (no files), in manifest order.

    Args:
        num_products: number of records (manifest lines).
        seed: seed of everything; the same arguments give the same plan.
        num_categories: use the first (most frequent) categories of :data:`CATEGORIES`.
    """
    if not 2 <= num_categories <= len(CATEGORIES):
        raise ValueError(f'num_categories must be in [2, {len(CATEGORIES)}], got {num_categories}')
    if num_products < MIN_RECORDS_PER_CATEGORY * num_categories:
        raise ValueError(f'num_products={num_products} is too small for {num_categories} categories: every '
                         f'category needs {MIN_RECORDS_PER_CATEGORY} records (SKUs in train, val and '
                         f'query/gallery); use at least {MIN_RECORDS_PER_CATEGORY * num_categories} or fewer '
                         f'categories')
    rng = np.random.default_rng(seed)
    counts = allocate_counts(num_products, category_weights(num_categories), MIN_RECORDS_PER_CATEGORY)
    sizes = [instance_sizes(rng, int(count)) for count in counts]
    skus = iter(f'sku-{n:04d}' for n in rng.permutation(sum(map(len, sizes))) + 1)  # no category order
    records = [record for c in range(num_categories) for record in _plan_category(rng, c, sizes[c], skus)]
    records = [records[k] for k in rng.permutation(len(records))]
    for k, record in enumerate(records):
        record.id = f'D{k:05d}'
    _drop_modalities(rng, records)
    _swap_titles(rng, records)
    return records
