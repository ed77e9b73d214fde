"""Titles and attribute tables of the demo products (the text and table modalities).

A title is ``[brand] [adjectives] [colour] noun [model]``: the noun names the category (70%,
a synonym in 30% of those), its department (20%) or nothing specific (10%); brand, colour and
model name the SKU and appear only sometimes. A table keeps 3-8 of the keys in :data:`TABLE_KEYS` (in that
order); material and style show the category's factors, with some values replaced at random.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from .design import CATEGORIES, CategorySpec, InstanceSpec

NOUNS: Dict[str, Tuple[str, str]] = {  # (usual noun, synonym)
    'sneakers': ('sneakers', 'running shoes'), 't-shirt': ('t-shirt', 'tee'),
    'handbag': ('handbag', 'tote bag'), 'teapot': ('teapot', 'tea kettle'),
    'desk lamp': ('desk lamp', 'reading lamp'), 'water bottle': ('water bottle', 'flask'),
    'headphones': ('headphones', 'headset'), 'smartwatch': ('smartwatch', 'fitness watch'),
    'phone case': ('phone case', 'phone cover'), 'lipstick': ('lipstick', 'lip tint'),
    'sunglasses': ('sunglasses', 'shades'), 'perfume': ('perfume', 'fragrance'),
}
DEPARTMENT_NOUNS: Dict[str, Tuple[str, ...]] = {
    'fashion': ('apparel', 'fashion item'), 'home': ('home essential', 'homeware'),
    'electronics': ('gadget', 'electronic accessory'), 'beauty': ('beauty product', 'beauty accessory'),
}
GENERIC_NOUNS = ('item', 'gift', 'product', 'bestseller')
ADJECTIVES = ('new', 'premium', 'lightweight', 'portable', 'original', 'deluxe', 'everyday', 'compact',
              '2024', 'hot sale')
TABLE_KEYS = ('brand', 'model', 'color', 'material', 'style', 'size', 'origin', 'warranty')
MATERIALS = tuple(sorted({c.material for c in CATEGORIES}))
STYLES = tuple(sorted({c.style for c in CATEGORIES}))
ORIGINS = ('China', 'Vietnam', 'Germany', 'USA', 'Italy', 'India')
WARRANTIES = ('none', '6 months', '1 year', '2 years')
NOUN_PROBS = (0.7, 0.2, 0.1)  # specific, department, generic
SYNONYM_PROB = 0.3
TABLE_VALUE_NOISE = 0.1


def _pick(rng: np.random.Generator, options) -> str:
    return str(options[int(rng.integers(len(options)))])


def make_title(rng: np.random.Generator, *, instance: InstanceSpec, category: CategorySpec) -> str:
    """A short English product title for one record of ``instance``."""
    kind = rng.choice(3, p=NOUN_PROBS)
    if kind == 0:
        noun = NOUNS[category.name][int(rng.random() < SYNONYM_PROB)]
    else:
        noun = _pick(rng, (DEPARTMENT_NOUNS[category.department], GENERIC_NOUNS)[kind - 1])
    words = []
    if rng.random() < 0.8:
        words.append(instance.brand)
    num_adjectives = int(rng.integers(0, 3))
    words.extend(str(a) for a in rng.choice(ADJECTIVES, size=num_adjectives, replace=False))
    if rng.random() < 0.6:
        words.append(instance.color)
    words.append(noun)
    if rng.random() < 0.5 or len(words) == 1:
        words.append(instance.model)
    return ' '.join(words)


def make_table(rng: np.random.Generator, *, instance: InstanceSpec,
               category: CategorySpec) -> List[List[str]]:
    """3-8 ``[key, value]`` pairs for one record of ``instance``."""
    material, style = category.material, category.style
    if rng.random() < TABLE_VALUE_NOISE:
        material = _pick(rng, MATERIALS)
    if rng.random() < TABLE_VALUE_NOISE:
        style = _pick(rng, STYLES)
    values = {'brand': instance.brand, 'model': instance.model, 'color': instance.color,
              'material': material, 'style': style, 'size': instance.size,
              'origin': _pick(rng, ORIGINS), 'warranty': _pick(rng, WARRANTIES)}
    num_keys = int(rng.integers(3, len(TABLE_KEYS) + 1))
    keep = sorted(rng.choice(len(TABLE_KEYS), size=num_keys, replace=False))
    return [[TABLE_KEYS[k], values[TABLE_KEYS[k]]] for k in keep]
