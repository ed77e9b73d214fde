"""Reading checkpoints written before the backbone/objectives redesign (m5mm 0.1): parameter renames.

0.1 models held ``encoders``, ``fusion``, ``harmonizer`` and ``projections`` at the top, masked
heads under ``heads.<name>``, loss-owned parameters under ``losses.<name>`` and a classifier's
head under ``head``; ``ScaleFusion`` (and its subclasses) held ``proj``, ``pos_embed`` and
``type_embed`` directly. Now the first four live under ``backbone.``, every objective under
``objectives.<name>`` (its head at ``objectives.<name>.head``, the classifier's objective is
``cls``) and the fusion's token embedding under ``fusion.embed.``.
"""
from __future__ import annotations

import re
from typing import Collection, Dict, Iterator, Mapping, TypeVar

Value = TypeVar('Value')

_RULES = (
    (re.compile(r'^(encoders|fusion|harmonizer|projections)\.'), r'backbone.\1.'),
    (re.compile(r'^heads\.([^.]+)\.'), r'objectives.\1.head.'),
    (re.compile(r'^losses\.([^.]+)\.'), r'objectives.\1.'),
    (re.compile(r'^head\.'), r'objectives.cls.head.'),
)
_FUSION_EMBEDDING = (re.compile(r'^backbone\.fusion\.(proj\.|pos_embed\.|type_embed$)'), r'backbone.fusion.embed.\1')


def legacy_candidates(name: str) -> Iterator[str]:
    """New names a 0.1 parameter name may have, most likely first."""
    for pattern, replacement in _RULES:
        if pattern.match(name):
            renamed = pattern.sub(replacement, name, count=1)
            yield renamed
            if _FUSION_EMBEDDING[0].match(renamed):
                yield _FUSION_EMBEDDING[0].sub(_FUSION_EMBEDDING[1], renamed, count=1)
            return


def upgrade_state_dict(state: Mapping[str, Value], names: Collection[str], prefix: str = '') -> Dict[str, Value]:
    """``state`` with every key the model lacks renamed to the model's name for it, when one of the
    0.1 renames gives a name in ``names``; other keys are kept as they are.

    Args:
        state: a state dict (possibly of a 0.1 model).
        names: the model's own state-dict keys.
        prefix: a prefix of every key of ``state`` and ``names`` to leave alone (a wrapped model's).
    """
    names = set(names)
    out: Dict[str, Value] = {}
    for key, value in state.items():
        new = key
        if key not in names and key.startswith(prefix):
            new = next((prefix + c for c in legacy_candidates(key[len(prefix):]) if prefix + c in names), key)
        out.setdefault(new, value)
    return out
