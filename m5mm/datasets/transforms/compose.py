"""A pipeline of transforms built from config dicts."""
from __future__ import annotations

from typing import Callable, List, Sequence, Union

from m5mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class Compose:
    """Apply transforms in order to a ``results`` dict.

    Args:
        transforms: transform configs (``dict(type='LoadImage', ...)``) or callables.
    """

    def __init__(self, *, transforms: Sequence[Union[dict, Callable]]) -> None:
        self.transforms: List[Callable] = []
        for step in transforms:
            if isinstance(step, dict):
                step = TRANSFORMS.build(step)
            if not callable(step):
                raise TypeError(f'a pipeline step must be a config dict or callable, got {step!r}')
            self.transforms.append(step)

    def __call__(self, results: dict) -> dict:
        for step in self.transforms:
            results = step(results)
            if not isinstance(results, dict):
                raise TypeError(f'transform {step!r} returned {type(results).__name__}, '
                                f'expected the results dict')
        return results

    def output_meta(self) -> dict:
        """What the pipeline's output fixes that a model must agree with (e.g. ``image_size``): the
        ``output_meta()`` dicts of its transforms merged in order (a later transform wins). Encoders
        take these as defaults, so a size is written once, in the pipeline."""
        meta: dict = {}
        for step in self.transforms:
            if callable(getattr(step, 'output_meta', None)):
                meta.update(step.output_meta())
        return meta

    def __repr__(self) -> str:
        return f'Compose({self.transforms!r})'
