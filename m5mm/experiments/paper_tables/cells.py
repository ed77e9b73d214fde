"""The benchmark plan: one cell per (method, modality set, seed)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Sequence, Tuple

from .methods import method_label
from .modality_sets import modality_code


@dataclass(frozen=True)
class Cell:
    """One pretraining + evaluation run.

    Attributes:
        method: a method name (``'scale'``) or a config path.
        modalities: the modality names, in the paper's order.
        seed: the run's seed (model init, data order, masking).
    """

    method: str
    modalities: Tuple[str, ...]
    seed: int

    @property
    def code(self) -> str:
        """The modality-set code (``'T+I'``, ``'all'``)."""
        return modality_code(self.modalities)

    @property
    def label(self) -> str:
        """The method's table label."""
        return method_label(self.method)

    @property
    def name(self) -> str:
        """A file-system-safe unique name: ``<method>__<code>__seed<seed>``."""
        method = self.label.replace(' ', '_') if self.method.endswith('.py') else self.method
        safe = ''.join(c if c.isalnum() or c in '-_+' else '_' for c in method)
        return f'{safe}__{self.code}__seed{self.seed}'


def plan_cells(methods: Sequence[str], modality_sets: Iterable[Sequence[str]], seeds: Sequence[int]) -> List[Cell]:
    """Every (method, modality set, seed) combination, seed-major so that a partial run already
    covers every method and modality set once."""
    modality_sets = [tuple(m) for m in modality_sets]
    return [Cell(method, mods, int(seed)) for seed in seeds for mods in modality_sets for method in methods]


def parse_seeds(text: str) -> List[int]:
    """``'0,1,2'`` -> [0, 1, 2]."""
    try:
        seeds = [int(s) for s in text.split(',') if s.strip()]
    except ValueError:
        raise ValueError(f'--seeds must be comma-separated integers, got {text!r}') from None
    if not seeds:
        raise ValueError(f'no seed in {text!r}')
    return list(dict.fromkeys(seeds))
