"""Modality-set codes of the benchmark (``T``, ``T+I``, ``T+I+Tab+V``, ``all``).

``T`` = text (title), ``I`` = image, ``Tab`` = table (attribute key/value pairs), ``V`` = video,
``A`` = audio, ``all`` = the five. Sets keep the paper's order (text, image, table, video,
audio) whatever order the codes are written in, so ``I+T`` and ``T+I`` are one set.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

CODES: Dict[str, str] = {'T': 'text', 'I': 'image', 'Tab': 'table', 'V': 'video', 'A': 'audio'}
ORDER: Tuple[str, ...] = ('text', 'image', 'table', 'video', 'audio')
ALL = 'all'
_LOWER = {code.lower(): name for code, name in CODES.items()}
_CODE_OF = {name: code for code, name in CODES.items()}


def parse_modality_set(code: str) -> Tuple[str, ...]:
    """``'T+I+Tab'`` -> ``('text', 'image', 'table')``; ``'all'`` -> the five modalities.

    Codes are case-insensitive; modality names (``text+image``) are accepted as well.
    """
    code = code.strip()
    if code.lower() == ALL:
        return ORDER
    names = []
    for part in code.split('+'):
        key = part.strip().lower()
        name = _LOWER.get(key) or (key if key in ORDER else None)
        if name is None:
            raise ValueError(f'unknown modality code {part!r} in {code!r}; use {", ".join(CODES)} '
                             f'(T=text, I=image, Tab=table, V=video, A=audio) joined by "+", or "all"')
        if name in names:
            raise ValueError(f'modality {name!r} appears twice in {code!r}')
        names.append(name)
    return tuple(m for m in ORDER if m in names)


def modality_code(modalities: Sequence[str]) -> str:
    """``('text', 'image')`` -> ``'T+I'``; the five modalities -> ``'all'``."""
    ordered = tuple(m for m in ORDER if m in modalities)
    unknown = sorted(set(modalities) - set(ORDER))
    if unknown:
        raise ValueError(f'no code for modalities {unknown}; known: {", ".join(ORDER)}')
    return ALL if ordered == ORDER else '+'.join(_CODE_OF[m] for m in ordered)


def parse_modality_sets(text: str) -> List[Tuple[str, ...]]:
    """A comma-separated list of codes (``'T,T+I,all'``) -> the modality sets, duplicates removed."""
    sets: List[Tuple[str, ...]] = []
    for code in text.split(','):
        if not code.strip():
            continue
        mods = parse_modality_set(code)
        if mods not in sets:
            sets.append(mods)
    if not sets:
        raise ValueError(f'no modality set in {text!r}')
    return sets
