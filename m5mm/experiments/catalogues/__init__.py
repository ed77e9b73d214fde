"""Synthetic product catalogues written as real media files in the m5mm manifest format.

Registered in ``CATALOGUES`` so a dataset config can create one where its manifest is missing
(``generate_if_missing=dict(type='demo', num_products=400, seed=0)``):

- ``demo``: :func:`~m5mm.experiments.catalogues.demo.make_demo_dataset` (docs/demo_data.md);
- ``bazaar``: :func:`~m5mm.experiments.catalogues.bazaar.make_bazaar_dataset`, a second catalogue
  of a different design, kept out of the tests' tuning loop;
- ``emoji``: :func:`~m5mm.experiments.catalogues.emoji.make_emoji_dataset`, real pictures and names
  (Noto Color Emoji, Unicode) and espeak-ng voice-overs (docs/emoji_data.md).
"""
from m5mm.registry import CATALOGUES

from .bazaar import make_bazaar_dataset
from .demo import make_demo_dataset
from .emoji import make_emoji_dataset

CATALOGUES.register_module(name='demo', module=make_demo_dataset)
CATALOGUES.register_module(name='bazaar', module=make_bazaar_dataset)
CATALOGUES.register_module(name='emoji', module=make_emoji_dataset)

__all__ = ['make_bazaar_dataset', 'make_demo_dataset', 'make_emoji_dataset']
