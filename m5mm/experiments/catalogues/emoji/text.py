"""Titles and attribute tables of the emoji listings (the text and table modalities).

A title is made of chunks: ``[brand] [seller prefix] [colour] [material] NAME FORM [size] [seller
suffix]``. NAME is the emoji's English name, another language's name (20%) or a nickname (10%);
the chunks are shuffled in 15% of the titles and joined by a seller's separator; 25% of the titles
have one or two typos, 10% are in upper or title case. A table keeps 3-9 of :data:`TABLE_KEYS`
(in that order); ``type`` (the category) is offered in half the records; 10% of the colour and
material values are another's.
"""
from __future__ import annotations

from typing import List

import numpy as np

from .design import FORMS, ORIGINS, PACKS, SELLER_PREFIXES, SELLER_SUFFIXES, EmojiInstance, subgroup_words

OTHER_LANGUAGE_RATE = 0.2
NICKNAME_RATE = 0.1
SHUFFLE_RATE = 0.15
TYPO_RATE = 0.25
CASE_RATE = 0.1
SEPARATORS = (' ', ' ', ' ', ' - ', ' | ', ', ')
TABLE_KEYS = ('brand', 'collection', 'type', 'form', 'material', 'color', 'size', 'pack', 'origin')
TYPE_ROW_RATE = 0.5
TABLE_VALUE_NOISE = 0.1
COLORS = ('red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'brown', 'black', 'white', 'grey')
MATERIALS = tuple(sorted({m for spec in FORMS.values() for m in spec.materials}))
KEYBOARD_ROWS = ('qwertyuiop', 'asdfghjkl', 'zxcvbnm')


def _pick(rng: np.random.Generator, options) -> str:
    return str(options[int(rng.integers(len(options)))])


def _name(rng: np.random.Generator, instance: EmojiInstance) -> str:
    draw = rng.random()
    if draw < OTHER_LANGUAGE_RATE and instance.names:
        return instance.names[_pick(rng, sorted(instance.names))]
    if draw < OTHER_LANGUAGE_RATE + NICKNAME_RATE and instance.nicknames:
        return _pick(rng, instance.nicknames)
    return instance.entry.name


def _neighbour(letter: str, rng: np.random.Generator) -> str:
    for row in KEYBOARD_ROWS:
        k = row.find(letter)
        if k >= 0:
            return row[max(0, min(len(row) - 1, k + int(rng.choice((-1, 1)))))]
    return letter


def add_typo(rng: np.random.Generator, word: str) -> str:
    """``word`` with one letter swapped with the next, dropped, doubled or hit next to on the keyboard."""
    k = int(rng.integers(len(word) - 1))
    kind = int(rng.integers(4))
    if kind == 0:
        return word[:k] + word[k + 1] + word[k] + word[k + 2:]
    if kind == 1:
        return word[:k] + word[k + 1:]
    if kind == 2:
        return word[:k] + word[k] + word[k:]
    return word[:k] + _neighbour(word[k], rng) + word[k + 1:]


def _typos(rng: np.random.Generator, title: str) -> str:
    words = title.split(' ')
    candidates = [k for k, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    for k in rng.choice(candidates, size=min(len(candidates), int(rng.integers(1, 3))), replace=False):
        words[k] = add_typo(rng, words[k])
    return ' '.join(words)


def make_title(rng: np.random.Generator, *, instance: EmojiInstance) -> str:
    """A noisy seller title for one listing of ``instance``."""
    chunks = [] if rng.random() < 0.4 else [instance.brand]
    if rng.random() < 0.3:
        chunks.append(_pick(rng, SELLER_PREFIXES))
    chunks += [word for word, rate in ((instance.color, 0.4), (instance.material, 0.3)) if rng.random() < rate]
    chunks.append(f'{_name(rng, instance)} {instance.form}')
    if rng.random() < 0.2:
        chunks.append(f'{instance.size_cm} cm')
    if rng.random() < 0.4:
        chunks.append(_pick(rng, SELLER_SUFFIXES))
    if rng.random() < SHUFFLE_RATE:
        chunks = [chunks[k] for k in rng.permutation(len(chunks))]
    title = _pick(rng, SEPARATORS).join(chunks)
    if rng.random() < TYPO_RATE:
        title = _typos(rng, title)
    if rng.random() < CASE_RATE:
        title = title.upper() if rng.random() < 0.5 else title.title()
    return title


def make_table(rng: np.random.Generator, *, instance: EmojiInstance) -> List[List[str]]:
    """3-9 ``[key, value]`` pairs for one listing of ``instance``."""
    entry = instance.entry
    color = _pick(rng, COLORS) if rng.random() < TABLE_VALUE_NOISE else instance.color
    material = _pick(rng, MATERIALS) if rng.random() < TABLE_VALUE_NOISE else instance.material
    values = {'brand': instance.brand, 'collection': entry.group, 'type': subgroup_words(entry.subgroup),
              'form': instance.form, 'material': material, 'color': color, 'size': f'{instance.size_cm} cm',
              'pack': _pick(rng, PACKS), 'origin': _pick(rng, ORIGINS)}
    keys = [k for k in TABLE_KEYS if k != 'type' or rng.random() < TYPE_ROW_RATE]
    keep = sorted(rng.choice(len(keys), size=int(rng.integers(3, len(keys) + 1)), replace=False))
    return [[keys[k], values[keys[k]]] for k in keep]
