"""The trainer's position: saved in every checkpoint (as JSON) so a run resumes where it stopped."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict

COUNTERS = ('epoch', 'step', 'batch_in_epoch', 'samples')


@dataclass
class TrainState:
    """Counters of a training run, plus what hooks and the data loader need to continue exactly.

    Attributes:
        epoch: the epoch being trained (0-based).
        step: optimizer steps done so far.
        batch_in_epoch: batches of ``epoch`` this process already consumed (for mid-epoch resume).
        samples: samples seen so far (all processes).
        extra: free-form JSON-able state of this process, saved with the counters:
            ``hook_states`` (each hook's ``state_dict()``, by hook key), ``messages`` (the trainer's
            :class:`m5mm.engine.messages.MessageRecord`) and ``data_state`` (the train
            loader's state, :func:`m5mm.datasets.loaders.data_state`: a shard stream's position and layout).
    """

    epoch: int = 0
    step: int = 0
    batch_in_epoch: int = 0
    samples: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)

    def state_dict(self) -> Dict[str, Any]:
        """The counters and ``extra`` as a JSON-able dict."""
        return dict({key: int(getattr(self, key)) for key in COUNTERS}, extra=self.extra)

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`'s output (a missing counter is a ``KeyError``)."""
        for key in COUNTERS:
            setattr(self, key, int(state[key]))
        self.extra = dict(state.get('extra') or {})
