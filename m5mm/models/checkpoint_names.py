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
from typing import Collection, Dict, Iterator, Mapping, Sequence, TypeVar

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


#: the order in which 0.1 pretrainers registered their parts (an optimizer state follows it):
#: encoders, fusion, harmonizer, loss-owned parameters, masked-modelling heads (``heads``), projections
PRETRAINER_ORDER = ('backbone.encoders.', 'backbone.fusion.', 'backbone.harmonizer.', 'objectives.', 'heads',
                    'backbone.projections.')
#: ... and 0.1 classifiers: encoders, fusion, projections, head
CLASSIFIER_ORDER = ('backbone.encoders.', 'backbone.fusion.', 'backbone.projections.', 'objectives.')


def legacy_order_differs(parameter_names: Sequence[str], order: Sequence[str], masked: Collection[str] = ()) -> bool:
    """Whether a model's parameters (``named_parameters`` order) came in another order in m5mm 0.1,
    where an optimizer state saved with a 0.1 checkpoint would be misassigned.

    Args:
        parameter_names: the model's parameter names, in order.
        order: the 0.1 order of its parts (name prefixes; ``'heads'`` = the masked objectives' heads).
        masked: the names of its masked-modelling objectives (0.1 kept their heads apart).
    """
    heads = tuple(f'objectives.{name}.head.' for name in masked)

    def rank(name: str) -> int:
        key = 'heads' if heads and name.startswith(heads) else next((p for p in order if name.startswith(p)), None)
        return list(order).index(key) if key in order else len(order)
    names = list(parameter_names)
    # 0.1's ScaleFusion (and subclasses) held its type embedding itself, before its [CLS] token
    moved_type_embedding = {'backbone.fusion.cls_token', 'backbone.fusion.embed.type_embed'} <= set(names)
    return moved_type_embedding or sorted(names, key=rank) != names
