"""Random horizontal flip, reproducible from the sample seed."""
from __future__ import annotations

from m5mm.registry import TRANSFORMS

from .randomness import sample_rng


@TRANSFORMS.register_module()
class RandomFlipImage:
    """Flip ``results['pixels']`` (..., H, W) left-right with probability ``prob``.

    The draw depends only on ``results['seed']``, so a resumed run flips the same samples.

    Args:
        prob: flip probability.
    """

    def __init__(self, *, prob: float = 0.5) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob

    def __call__(self, results: dict) -> dict:
        flip = bool(sample_rng(results, 'RandomFlipImage').random() < self.prob)
        if flip:
            results['pixels'] = results['pixels'].flip(-1)
        results['flipped'] = flip
        return results

    def __repr__(self) -> str:
        return f'RandomFlipImage(prob={self.prob})'
