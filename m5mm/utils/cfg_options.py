"""``--cfg-options key=value ...``: OpenMMLab's override syntax, with ``dict(...)`` values and one-line errors.

Values are read as data, never evaluated: ``1`` -> int, ``1e-3`` -> float, ``true`` / ``false`` -> bool,
``None`` -> None, ``[a, b]`` -> list, ``(a, b)`` -> tuple, ``a,b`` -> list, ``dict(k=v, ...)`` -> dict
(nested freely), anything else a string. mmengine's ``DictAction`` reads the same syntax but recurses without
end on a ``dict(...)`` (``custom_hooks=[dict(type=MyHook,fraction=0.5)]``) and fails with a bare unpacking error
on an item without ``=``; this action reads the first and names the item of the second.
"""
from __future__ import annotations

import argparse
import copy
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import DictAction

OPENING, CLOSING = '([', ')]'


def split_top_level(text: str) -> List[str]:
    """``'a, [b, c], dict(d=1, e=2)'`` -> ``['a', '[b, c]', 'dict(d=1, e=2)']``: split at the commas outside
    brackets. Raises ValueError on brackets that do not pair up."""
    parts, start, stack = [], 0, []
    for i, char in enumerate(text):
        if char in OPENING:
            stack.append(CLOSING[OPENING.index(char)])
        elif char in CLOSING:
            if not stack or stack.pop() != char:
                raise ValueError(f'brackets do not pair up in {text!r}')
        elif char == ',' and not stack:
            parts.append(text[start:i])
            start = i + 1
    if stack:
        raise ValueError(f'brackets do not pair up in {text!r}')
    parts.append(text[start:])
    return [part.strip() for part in parts]


def parse_option_value(text: str) -> Any:
    """One ``--cfg-options`` value (the text after ``key=``) -> Python data (see the module docstring)."""
    text = text.strip().strip('\'"').strip()
    if text.startswith('dict(') and text.endswith(')'):
        return _parse_dict(text[len('dict('):-1])
    for opening, closing, kind in (('[', ']', list), ('(', ')', tuple)):
        if text.startswith(opening) and text.endswith(closing):
            inner = text[1:-1].strip()
            return kind(parse_option_value(item) for item in split_top_level(inner)) if inner else kind()
    items = split_top_level(text)
    if len(items) > 1:
        return [parse_option_value(item) for item in items]
    return DictAction._parse_int_float_bool(text)


def _parse_dict(inner: str) -> Dict[str, Any]:
    out = {}
    for item in split_top_level(inner) if inner.strip() else []:
        key, sep, value = item.partition('=')
        if not sep or not key.strip().isidentifier():
            raise ValueError(f'dict(...) takes key=value items; got {item!r}')
        out[key.strip()] = parse_option_value(value)
    return out


class CfgOptionsAction(argparse.Action):
    """argparse action collecting ``key=value`` items into one dict (several uses of the option merge)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Optional[Sequence[str]], option_string: Optional[str] = None) -> None:
        options = copy.copy(getattr(namespace, self.dest, None) or {})
        for item in values or ():
            key, sep, value = item.partition('=')
            if not sep or not key:
                parser.error(f'{option_string}: {item!r} is not key=value (e.g. train_cfg.max_epochs=2)')
            try:
                options[key] = parse_option_value(value)
            except ValueError as exc:
                parser.error(f'{option_string}: {key}: {exc}')
        setattr(namespace, self.dest, options)
