"""Size arguments: an int (square) or (height, width)."""
from __future__ import annotations

from typing import Sequence, Tuple, Union

Size = Union[int, Sequence[int]]


def size_meta(size: Tuple[int, int]) -> dict:
    """What a transform that fixes the image size tells the model (``output_meta``): ``image_size``,
    an int for a square size, else ``[height, width]``."""
    height, width = size
    return {'image_size': height if height == width else [height, width]}


def to_hw(size: Size, what: str = 'size') -> Tuple[int, int]:
    """(height, width) of ``size``, validated."""
    if isinstance(size, int):
        size = (size, size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(f'{what} must be a positive int or (height, width), got {size!r}')
    return int(size[0]), int(size[1])
