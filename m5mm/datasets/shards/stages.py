"""Splitting a modality pipeline into the steps run when shards are built and the rest.

A transform may say it can run at build time (``build_time = True``: deterministic, and its
output is no bigger than worth storing) and may describe itself as smaller steps
(``stages()``: ``SampleVideoFrames`` = decode to uint8, then standardise). The build runs the
longest build-time prefix of the expanded pipeline and stores its results; the loader checks
that its own pipeline starts with the same steps (by their *signatures*: class and
constructor state) and runs only the remaining ones.
"""
from __future__ import annotations

from typing import Any, Callable, List, Sequence, Tuple

from m5mm.registry import TRANSFORMS


def _build(step: Any) -> Callable:
    return TRANSFORMS.build(dict(step)) if isinstance(step, dict) else step


def expand(steps: Sequence[Any]) -> List[Callable]:
    """Built transforms of ``steps`` (configs or callables), each replaced by its ``stages()``."""
    out: List[Callable] = []
    for step in steps:
        transform = _build(step)
        stages = getattr(transform, 'stages', None)
        out.extend(expand(stages()) if callable(stages) else [transform])
    return out


def signature(transform: Callable) -> str:
    """A transform's class and constructor state as text (equal for equal transforms)."""
    state = sorted((k, v) for k, v in vars(transform).items() if not k.startswith('_'))
    return f'{type(transform).__name__}{state!r}'


def build_time_prefix(transforms: Sequence[Callable]) -> int:
    """Number of leading transforms that may run at build time."""
    count = 0
    for transform in transforms:
        if not getattr(transform, 'build_time', False):
            break
        count += 1
    return count


def split_pipeline(transforms: Sequence[Callable], stored: Sequence[str], *, what: str
                   ) -> Tuple[List[Callable], bool]:
    """The transforms left to run after the ``stored`` signatures, and whether the first of them
    can read a member's bytes (``reads_bytes``) when nothing was stored.

    Raises:
        ValueError: the pipeline does not start with the stored steps (naming both).
    """
    ours = [signature(t) for t in transforms[:len(stored)]]
    if ours != list(stored):
        raise ValueError(f'{what}: the shards store the output of {list(stored)}, but the configured pipeline '
                         f'starts with {ours}; use the same leading steps, or rebuild the shards '
                         f'with this pipeline (tools/make_shards.py SRC --config CONFIG --preprocess ...)')
    rest = list(transforms[len(stored):])
    reads_bytes = bool(rest) and bool(getattr(rest[0], 'reads_bytes', False))
    return rest, reads_bytes
