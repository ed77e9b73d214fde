"""The trainer's position: saved in every checkpoint so a run resumes where it stopped."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict


@dataclass
class TrainState:
    """Counters of a training run.

    Attributes:
        epoch: the epoch being trained (0-based).
        step: optimizer steps done so far.
        batch_in_epoch: batches of ``epoch`` already consumed (for mid-epoch resume).
        samples: samples seen so far (all processes).
    """

    epoch: int = 0
    step: int = 0
    batch_in_epoch: int = 0
    samples: int = 0

    def state_dict(self) -> Dict[str, int]:
        return asdict(self)

    def load_state_dict(self, state: Dict[str, int]) -> None:
        for key, value in state.items():
            setattr(self, key, int(value))
