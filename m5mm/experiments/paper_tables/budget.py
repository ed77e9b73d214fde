"""The training budget every benchmark cell gets: ``epochs=N`` or ``steps=N``."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

KINDS = ('epochs', 'steps')


@dataclass(frozen=True)
class Budget:
    """``kind`` ('epochs' or 'steps') and ``value``; ``steps=0`` evaluates the untrained model.

    An epochs budget trains ``value`` epochs with the config's schedule over them; a steps budget
    stops after ``value`` optimizer steps, with the learning-rate schedule spanning exactly those
    steps (warm-up and decay included).
    """

    kind: str
    value: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f'budget kind must be one of {KINDS}, got {self.kind!r}')
        if self.value < 0 or (self.kind == 'epochs' and self.value == 0):
            raise ValueError(f'budget {self} must be positive (steps=0 for an untrained model)')

    @classmethod
    def parse(cls, text: str) -> 'Budget':
        """``'epochs=5'`` or ``'steps=200'`` -> Budget."""
        kind, sep, value = str(text).partition('=')
        kind = kind.strip().lower()
        if not sep or kind not in KINDS or not value.strip().isdigit():
            raise ValueError(f'--budget must be epochs=N or steps=N (e.g. epochs=5, steps=200), got {text!r}')
        return cls(kind, int(value))

    def __str__(self) -> str:
        return f'{self.kind}={self.value}'

    def max_epochs(self, steps_per_epoch: int) -> int:
        """Epochs the trainer is configured with (enough to hold a steps budget)."""
        if self.kind == 'epochs':
            return self.value
        return max(1, math.ceil(self.value / max(1, steps_per_epoch)))

    def max_steps(self) -> Optional[int]:
        """The step at which training stops (None: the end of the last epoch)."""
        return self.value if self.kind == 'steps' else None

    def total_steps(self, steps_per_epoch: int) -> int:
        """Optimizer steps a cell trains for."""
        return self.value * steps_per_epoch if self.kind == 'epochs' else self.value
