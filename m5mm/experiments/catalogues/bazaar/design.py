"""The latent design of the bazaar catalogue, chosen to differ from the demo's on every axis.

========== ============================================ ===============================
modality   category information                         instance (SKU) information
========== ============================================ ===============================
image      shape = department only (5 shapes)           random colour (no department
                                                        colour family), object size
video      motion (4 patterns, each in 2-3 categories)  speed, amplitude
audio      pitch band (2 bands) + rhythm class (slow /  pitch offset (wide), rhythm
           fast): a weak, noisy cue                     within the class
text       noun of the category 40%, of the department  brand (any department), model
           35%, generic 25%
table      material (department), ``type`` row (the     brand, model, weight
           category noun) in half of the records
========== ============================================ ===============================

Ten categories in five departments of two; head/tail ratio 20 (the demo's: 8); 15% of the media
show a wrong factor (demo: 10%), 8% of the titles belong to another category (demo: 5%); 20% of
the records are incomplete, and video and audio are the modalities they lack most often.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class BazaarCategory:
    """One category: its department and the factors the media show."""

    name: str
    department: str
    shape: str     # image: one per department
    motion: str    # video
    pitch: str     # audio band: 'low' or 'high'
    rhythm: str    # audio beat class: 'slow' or 'fast'
    material: str  # table: one per department


BAZAAR_CATEGORIES: Tuple[BazaarCategory, ...] = (
    BazaarCategory('coffee beans', 'grocery', 'circle', 'horizontal', 'low', 'slow', 'paper'),
    BazaarCategory('olive oil', 'grocery', 'circle', 'orbit', 'high', 'fast', 'paper'),
    BazaarCategory('hammer', 'tools', 'square', 'vertical', 'low', 'fast', 'steel'),
    BazaarCategory('drill', 'tools', 'square', 'pulse', 'high', 'slow', 'steel'),
    BazaarCategory('puzzle', 'toys', 'triangle', 'horizontal', 'high', 'slow', 'cardboard'),
    BazaarCategory('plush bear', 'toys', 'triangle', 'pulse', 'low', 'fast', 'cardboard'),
    BazaarCategory('garden hose', 'garden', 'star', 'orbit', 'low', 'slow', 'rubber'),
    BazaarCategory('seed pack', 'garden', 'star', 'vertical', 'high', 'fast', 'rubber'),
    BazaarCategory('stapler', 'office', 'cross', 'orbit', 'high', 'slow', 'zinc'),
    BazaarCategory('notebook', 'office', 'cross', 'horizontal', 'low', 'fast', 'zinc'),
)
DEPARTMENT_NOUNS = {'grocery': 'pantry item', 'tools': 'tool', 'toys': 'toy', 'garden': 'garden item',
                    'office': 'office supply'}
GENERIC_NOUNS = ('product', 'item', 'bundle', 'set')
BRANDS = ('Arden', 'Bexley', 'Cobalt', 'Dune', 'Ember', 'Fable', 'Grove', 'Harbor', 'Iris', 'Jasper')
ADJECTIVES = ('premium', 'compact', 'classic', 'new', 'deluxe', 'value')
COLORS = {'red': (200, 30, 40), 'amber': (235, 150, 20), 'olive': (110, 130, 40), 'teal': (20, 140, 140),
          'indigo': (60, 40, 160), 'rose': (230, 110, 150), 'slate': (90, 100, 110), 'brown': (120, 70, 30)}
PITCH_HZ = {'low': 300.0, 'high': 600.0}
RHYTHM_BPS = {'slow': (1.5, 3.5), 'fast': (3.0, 6.0)}    # overlapping ranges: a noisy cue
HEAD_TAIL_RATIO = 20.0
FACTOR_NOISE_RATE = 0.15
NOISY_TITLE_RATE = 0.08
INCOMPLETE_RATE = 0.2
#: relative chance of each modality being missing in an incomplete record
MISSING_ODDS = {'image': 1.0, 'text': 0.5, 'table': 1.0, 'video': 3.0, 'audio': 3.0}
