"""The latent design of the demo catalogue: what each category and each SKU looks like.

Every category has a code made of five factors and each modality shows only some of them,
so no single modality can tell all categories apart while all of them together can:

========== ===================================== ==========================================
modality   category information                  instance (SKU) information
========== ===================================== ==========================================
image      shape (6 shapes, 2 categories each),  colour shade, object size
           colour family (= department, 80%)
video      motion (4 patterns, 3 categories      motion speed and amplitude
           each)
audio      pitch band (3 bands, 4 categories     pitch offset, rhythm (beeps per second)
           each)
text       noun (category 70%, department 20%,   brand, model, colour word
           generic 10%), brand (department)
table      material (= department), style (2),   brand, model, colour, size
           brand (department)
========== ===================================== ==========================================

Shape and motion, motion and pitch, or shape and pitch identify the category; departments
group three consecutive categories.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

from m5mm.structures import BUILTIN_MODALITIES

MODALITY_NAMES = BUILTIN_MODALITIES   # the demo catalogue has every built-in modality


@dataclass(frozen=True)
class CategorySpec:
    """One product category and the factors each modality shows of it."""

    name: str
    department: str
    shape: str
    motion: str
    pitch: str
    material: str
    style: str


# Rank order = frequency order (rank 0 is the head category).
CATEGORIES: Tuple[CategorySpec, ...] = (
    CategorySpec('sneakers', 'fashion', 'circle', 'horizontal', 'low', 'textile', 'sport'),
    CategorySpec('t-shirt', 'fashion', 'circle', 'vertical', 'mid', 'textile', 'classic'),
    CategorySpec('handbag', 'fashion', 'square', 'orbit', 'high', 'textile', 'sport'),
    CategorySpec('teapot', 'home', 'square', 'pulse', 'low', 'ceramic', 'classic'),
    CategorySpec('desk lamp', 'home', 'triangle', 'horizontal', 'mid', 'ceramic', 'sport'),
    CategorySpec('water bottle', 'home', 'triangle', 'vertical', 'high', 'ceramic', 'classic'),
    CategorySpec('headphones', 'electronics', 'ring', 'orbit', 'low', 'plastic', 'sport'),
    CategorySpec('smartwatch', 'electronics', 'ring', 'pulse', 'mid', 'plastic', 'classic'),
    CategorySpec('phone case', 'electronics', 'star', 'horizontal', 'high', 'plastic', 'sport'),
    CategorySpec('lipstick', 'beauty', 'star', 'vertical', 'low', 'glass', 'classic'),
    CategorySpec('sunglasses', 'beauty', 'cross', 'orbit', 'mid', 'glass', 'sport'),
    CategorySpec('perfume', 'beauty', 'cross', 'pulse', 'high', 'glass', 'classic'),
)

# Named colours of the SKUs (shown by the image, named by title and table), in four
# families of three shades; a SKU's colour is a shade of its department's family (80%) or any.
COLORS: Dict[str, Tuple[int, int, int]] = {
    'red': (200, 30, 40), 'orange': (235, 120, 20), 'yellow': (225, 200, 30),
    'lime': (140, 210, 40), 'green': (30, 140, 60), 'teal': (20, 140, 140),
    'sky': (80, 170, 235), 'blue': (30, 60, 200), 'navy': (20, 25, 90),
    'purple': (120, 40, 170), 'pink': (240, 120, 170), 'magenta': (190, 30, 120),
}
COLOR_FAMILIES: Dict[str, Tuple[str, ...]] = {
    'fashion': ('red', 'orange', 'yellow'), 'home': ('lime', 'green', 'teal'),
    'electronics': ('sky', 'blue', 'navy'), 'beauty': ('purple', 'pink', 'magenta'),
}
# Brands specialise: a SKU's brand is one of its department's (80%) or any brand.
BRANDS: Dict[str, Tuple[str, ...]] = {
    'fashion': ('Acme', 'Nordwind', 'Lumo', 'Kestrel', 'Orbis'),
    'home': ('Valla', 'Zenith', 'Maple & Co', 'Brisk', 'Corvo'),
    'electronics': ('Hale', 'Isola', 'Juno', 'Kite', 'Lark'),
    'beauty': ('Mosaic', 'Nimbus', 'Opal', 'Pico', 'Quill'),
}
IN_DEPARTMENT = 0.8  # share of SKUs whose brand (or colour) follows the department
MODEL_WORDS = ('Aero', 'Nova', 'Flex', 'Core', 'Edge', 'Pulse', 'Terra', 'Vibe', 'Halo', 'Swift')
SIZES = ('S', 'M', 'L', 'XL')
PITCH_BASE_HZ = {'low': 220.0, 'mid': 440.0, 'high': 880.0}
HEAD_TAIL_RATIO = 8.0  # the head category has ~8x the records of the tail one


@dataclass(frozen=True)
class InstanceSpec:
    """One SKU: its category and the sub-code every record of it shares."""

    sku: str
    category: int
    brand: str
    model: str
    color: str
    scale: float          # object size in the image, fraction of the image side
    speed: float          # video motion, cycles per second
    amplitude: float      # video motion, fraction of the frame side
    pitch_offset: float   # semitones above the category's pitch band
    rhythm: float         # audio beeps per second

    @property
    def size(self) -> str:
        """The table's size value, derived from ``scale``."""
        return SIZES[min(int((self.scale - 0.45) / 0.35 * len(SIZES)), len(SIZES) - 1)]


def category_weights(num_categories: int) -> np.ndarray:
    """(K,) Zipf-like shares whose head/tail ratio is :data:`HEAD_TAIL_RATIO`."""
    exponent = math.log(HEAD_TAIL_RATIO) / math.log(num_categories) if num_categories > 1 else 0.0
    weights = np.arange(1, num_categories + 1, dtype=np.float64) ** -exponent
    return weights / weights.sum()


def sample_instance(rng: np.random.Generator, *, sku: str, category: int) -> InstanceSpec:
    """Draw the sub-code of one SKU of ``category``."""
    department = CATEGORIES[category].department
    brands = BRANDS[department] if rng.random() < IN_DEPARTMENT else sum(BRANDS.values(), ())
    colors = COLOR_FAMILIES[department] if rng.random() < IN_DEPARTMENT else tuple(COLORS)
    return InstanceSpec(
        sku=sku, category=category, brand=str(rng.choice(brands)),
        model=f'{rng.choice(MODEL_WORDS)} {int(rng.integers(1, 10))}',
        color=str(rng.choice(colors)), scale=float(rng.uniform(0.45, 0.8)),
        speed=float(rng.uniform(0.3, 0.8)), amplitude=float(rng.uniform(0.15, 0.3)),
        pitch_offset=float(rng.uniform(0.0, 6.0)),
        rhythm=float(rng.uniform(2.0, 6.0)))
