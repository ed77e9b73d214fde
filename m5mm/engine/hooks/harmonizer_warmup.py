"""Uniform modality weights at the start of training, handing over to the harmonizer's own."""
from __future__ import annotations

from typing import Optional

from m5mm.registry import HOOKS
from m5mm.utils.distributed import unwrap_model

from .base import Hook


@HOOKS.register_module()
class HarmonizerWarmupHook(Hook):
    """Blends uniform weights into the harmonizer's: share ``s = max(0, 1 - step / warmup)`` of the way
    (``(1 - s) W + s`` on the present pairs, :class:`~m5mm.models.harmonizers.BaseHarmonizer`), so that
    the first steps weigh every present pair alike and the formula takes over linearly.

    Why: the self-harmonized weights measure how much a sample's modalities agree (cosines of their
    embeddings). Towers that start unrelated across modalities (frozen pretrained towers behind new
    projection heads) agree on nothing at step 0: the weights are noise around 0, about half of them
    negative, and they scale or flip each sample's contrastive logits, so the pairs of different towers
    never align (training accuracy at chance, docs/benchmark.md). Uniform weights let the heads align
    first; the weights then measure real agreement.

    The share follows from the trainer's step, so a resumed run sets it exactly as the uninterrupted
    one did.

    Args:
        fraction: warm-up length as a fraction of the run's optimizer steps.
        steps: warm-up length in optimizer steps (instead of ``fraction``).
    """

    priority = 10

    def __init__(self, *, fraction: Optional[float] = 0.5, steps: Optional[int] = None) -> None:
        if steps is None and (fraction is None or not 0.0 < fraction <= 1.0):
            raise ValueError(f'HarmonizerWarmupHook: fraction must be in (0, 1], got {fraction}')
        if steps is not None and int(steps) < 1:
            raise ValueError(f'HarmonizerWarmupHook: steps must be >= 1, got {steps}')
        self.fraction = fraction
        self.steps = steps

    def warmup_steps(self, total_steps: int) -> int:
        """The warm-up length of a run of ``total_steps`` optimizer steps (at least 1)."""
        return int(self.steps) if self.steps is not None else max(1, round(self.fraction * total_steps))

    def share(self, step: int, total_steps: int) -> float:
        """The uniform share of optimizer step ``step + 1`` (``step`` steps done)."""
        return max(0.0, 1.0 - step / self.warmup_steps(total_steps))

    @staticmethod
    def _harmonizer(trainer):
        harmonizer = getattr(unwrap_model(trainer.model).backbone, 'harmonizer', None)
        if harmonizer is None:
            raise ValueError('HarmonizerWarmupHook: the model has no harmonizer (model.harmonizer is None)')
        return harmonizer

    def _set_step_share(self, trainer) -> None:
        self._harmonizer(trainer).uniform_share.fill_(self.share(trainer.state.step, trainer.total_steps))

    def before_run(self, trainer) -> None:   # a resumed run starts at its step's share
        self._set_step_share(trainer)

    def after_train_step(self, trainer, batch, outputs) -> None:
        self._set_step_share(trainer)

    def after_run(self, trainer) -> None:   # the trained model weighs as the formula does
        self._harmonizer(trainer).uniform_share.fill_(0.0)
