"""The message record: what the trainer and hooks publish for other hooks (cf. mmengine's ``MessageHub``).

Hooks read this record instead of attributes set on the trainer. The trainer publishes, after every
optimizer step, the step's scalars; hooks publish what they derive (the metrics logger its averaged
row, the evaluation hook its results). Names in use:

===================  =======  =====================================================================
name                 kind     published by, value
===================  =======  =====================================================================
``train/<output>``   scalar   trainer: every scalar the model returned (``loss_con``, ``acc_mlm`` ...)
``train/lr``         scalar   trainer: the learning rate of the first parameter group
``train/samples``    scalar   trainer: samples this process consumed in the step (all micro-batches)
``train_log``        info     :class:`~m5mm.engine.hooks.MetricsLoggerHook`: the latest ``metrics.jsonl`` row
``eval_results``     info     :class:`~m5mm.engine.hooks.EvaluationHook`: the latest results by task
===================  =======  =====================================================================

A scalar keeps a bounded history of ``(step, value)``; its values stay tensors until read, so
publishing never waits for the device. The record is saved in every checkpoint as JSON (the scalar
histories and the infos published with ``persistent=True``) and restored on resume.
"""
from __future__ import annotations

import json
from collections import deque
from typing import Any, Deque, Dict, List, Mapping, Optional, Tuple, Union

from torch import Tensor

Scalar = Union[Tensor, float, int]


class MessageRecord:
    """Scalars with a per-step history, and named infos, shared by the trainer and its hooks.

    Args:
        max_history: steps of history kept per scalar (the oldest are dropped).
    """

    def __init__(self, *, max_history: int = 100) -> None:
        self.max_history = max_history
        self._scalars: Dict[str, Deque[Tuple[int, Scalar]]] = {}
        self._infos: Dict[str, Any] = {}
        self._persistent: set = set()

    # ----------------------------------------------------------------- scalars
    def update_scalars(self, values: Mapping[str, Scalar], *, step: int) -> None:
        """Append ``values`` (0-d tensors or numbers, by name) at ``step``."""
        for key, value in values.items():
            if isinstance(value, Tensor):
                value = value.detach().reshape(())
            self._scalars.setdefault(key, deque(maxlen=self.max_history)).append((int(step), value))

    def scalar_keys(self, prefix: str = '') -> List[str]:
        """Names of the published scalars that start with ``prefix``, sorted."""
        return sorted(k for k in self._scalars if k.startswith(prefix))

    def history(self, key: str) -> List[Tuple[int, float]]:
        """``[(step, value), ...]`` of ``key``, oldest first (empty when never published)."""
        return [(step, float(value)) for step, value in self._scalars.get(key, ())]

    def latest(self, key: str, default: Optional[float] = None) -> Optional[float]:
        """The last published value of ``key`` (``default`` when none)."""
        values = self._scalars.get(key)
        return float(values[-1][1]) if values else default

    def step_values(self, prefix: str, step: int) -> Dict[str, Scalar]:
        """The values published at ``step`` under names starting with ``prefix`` (prefix removed), as
        published (tensors stay on their device)."""
        found = {}
        for key, values in self._scalars.items():
            if key.startswith(prefix) and values and values[-1][0] == step:
                found[key[len(prefix):]] = values[-1][1]
        return found

    def latest_step(self, key: str) -> Optional[int]:
        """The step at which ``key`` was last published (None when never)."""
        values = self._scalars.get(key)
        return values[-1][0] if values else None

    # ------------------------------------------------------------------- infos
    def update_info(self, key: str, value: Any, *, persistent: bool = False) -> None:
        """Publish ``value`` under ``key`` (replacing the previous one); ``persistent`` values go into
        checkpoints and must be JSON-able."""
        if persistent:
            _check_json(key, value)
            self._persistent.add(key)
        else:
            self._persistent.discard(key)
        self._infos[key] = value

    def info(self, key: str, default: Any = None) -> Any:
        """The value published under ``key`` (``default`` when none)."""
        return self._infos.get(key, default)

    # -------------------------------------------------------------- checkpoint
    def state_dict(self) -> Dict[str, Any]:
        """The scalar histories (as floats) and the persistent infos, JSON-able."""
        return dict(scalars={k: [[s, float(v)] for s, v in values] for k, values in self._scalars.items()},
                    infos={k: self._infos[k] for k in sorted(self._persistent)})

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""
        self._scalars = {k: deque(((int(s), float(v)) for s, v in values), maxlen=self.max_history)
                         for k, values in state.get('scalars', {}).items()}
        self._infos = dict(state.get('infos', {}))
        self._persistent = set(self._infos)


def _check_json(key: str, value: Any) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f'message {key!r}: a persistent value must be JSON-able to be checkpointed ({exc})') from None
