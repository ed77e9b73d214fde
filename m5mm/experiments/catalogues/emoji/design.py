"""The design of the emoji catalogue: real pictures, real names, invented merchandise around them.

Each emoji is one product instance (SKU ``emoji-<code points>``), sold as one piece of merchandise
(a sticker, an enamel pin, a plush toy ...) by one brand; its category is its Unicode subgroup
(``animal-mammal``, ``food-fruit`` ...). Every listing of an instance shows the same picture in a
new photo (background, scale, rotation, crop, lighting), a noisy title and a partial table.

========== ================================================ =======================================
modality   category information                             instance information
========== ================================================ =======================================
image      the emoji's picture (real visual semantics)      which emoji, its form's look (outline,
                                                            disc, shadow)
video      a pan/zoom over the listing's photo              as the image
audio      espeak-ng reading the title (4 voices)           the spoken name, brand, form
text       the emoji's name (English, another language      name, brand, form, colour, material
           20%, a nickname 10%), with typos and boilerplate
table      ``collection`` (the Unicode group), ``type``     brand, form, material, colour, size
           (the subgroup) in half the records
========== ================================================ =======================================

Skin-tone variants are left out: they are the same picture in another colour, and as separate
instances they would make instance retrieval a skin-colour test; as listings of one instance they
would make the image contradict the table's colour.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

from ..bazaar import design as bazaar_design
from .sources import EmojiEntry


@dataclass(frozen=True)
class FormSpec:
    """A kind of merchandise: how its photo looks, what it is made of, how large it is."""

    look: str                       # 'outline' (die-cut border), 'disc' (round base), 'shadow'
    materials: Tuple[str, ...]
    size_cm: Tuple[float, float]


FORMS: Dict[str, FormSpec] = {
    'sticker': FormSpec('outline', ('vinyl', 'paper', 'holographic vinyl'), (3, 10)),
    'decal': FormSpec('outline', ('vinyl', 'waterproof vinyl'), (5, 20)),
    'embroidered patch': FormSpec('outline', ('embroidery', 'felt'), (5, 10)),
    'enamel pin': FormSpec('disc', ('enamel', 'zinc alloy'), (2, 4)),
    'button badge': FormSpec('disc', ('tinplate', 'plastic'), (2.5, 7.5)),
    'fridge magnet': FormSpec('disc', ('rubber', 'acrylic'), (3, 8)),
    'keychain': FormSpec('shadow', ('acrylic', 'PVC', 'silicone'), (4, 7)),
    'plush toy': FormSpec('shadow', ('polyester', 'cotton'), (15, 40)),
    'art print': FormSpec('shadow', ('matte paper', 'canvas'), (10, 30)),
    'cushion': FormSpec('shadow', ('cotton', 'polyester'), (30, 50)),
}
LOOKS = ('outline', 'disc', 'shadow')
BRANDS = ('Pixelpop', 'Glyphics', 'Moji & Co', 'Happy Cargo', 'Kitsune Lab', 'Sunny Mart', 'Bright Ideas',
          'Tiny Joy', 'Doodle Box', 'Neon Nest', 'Pop Parade', 'Wink')
ORIGINS = ('China', 'Vietnam', 'Germany', 'USA', 'Japan', 'Portugal')
PACKS = ('1 pc', '2 pcs', '3 pcs', 'set of 5', '10 pcs')
SELLER_PREFIXES = ('NEW', '2024', 'Hot Sale', 'HOT', 'Cute', 'Kawaii', 'Premium', 'Original', 'Wholesale',
                   'Funny')
SELLER_SUFFIXES = ('free shipping', 'fast delivery', 'gift idea', 'for kids', 'high quality', 'in stock',
                   'best price', 'lot of 3', 'ships today', 'great gift')
LANGUAGES = ('es', 'fr', 'de', 'it', 'pt')   # other-language names, from the emoji package
VOICES = ('en+m1', 'en+m3', 'en+f2', 'en-us+f3')   # espeak-ng voices of the voice-overs
# Colour names of the emoji's dominant hue (degrees: upper bounds, red wraps around).
HUES = ((15, 'red'), (36, 'orange'), (75, 'yellow'), (165, 'green'), (255, 'blue'), (300, 'purple'),
        (345, 'pink'), (360, 'red'))

MIN_EMOJI_PER_CATEGORY = 8   # a subgroup with fewer (renderable) emoji is not a category
# Noise rates, the bazaar catalogue's by default (docs/demo_data.md)
INCOMPLETE_RATE = bazaar_design.INCOMPLETE_RATE
WRONG_MEDIA_RATE = bazaar_design.FACTOR_NOISE_RATE
NOISY_TITLE_RATE = bazaar_design.NOISY_TITLE_RATE
MISSING_ODDS = bazaar_design.MISSING_ODDS


@dataclass(frozen=True)
class EmojiInstance:
    """One product: an emoji sold as one form by one brand."""

    entry: EmojiEntry
    category: int                   # index into the plan's category list
    brand: str
    form: str
    material: str
    size_cm: int
    color: str                      # dominant colour of the picture
    names: Dict[str, str]           # other-language names
    nicknames: Tuple[str, ...]

    @property
    def sku(self) -> str:
        """The instance id."""
        return self.entry.sku


def sample_instance(rng: np.random.Generator, *, entry: EmojiEntry, category: int, color: str,
                    names: Dict[str, str], nicknames: Tuple[str, ...]) -> EmojiInstance:
    """Draw the brand, form, material and size of one product."""
    form = str(rng.choice(sorted(FORMS)))
    spec = FORMS[form]
    return EmojiInstance(entry=entry, category=category, brand=str(rng.choice(BRANDS)), form=form,
                         material=str(rng.choice(spec.materials)), size_cm=int(round(rng.uniform(*spec.size_cm))),
                         color=color, names=names, nicknames=nicknames)


def subgroup_words(subgroup: str) -> str:
    """``'animal-mammal'`` -> ``'animal mammal'`` (the ``type`` row and the category queries)."""
    return subgroup.replace('-', ' ')
