"""The hook interface: trainer extensions called at fixed points of the loop."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional

from torch import Tensor

if TYPE_CHECKING:
    from m5mm.engine.trainer import Trainer


class Hook:
    """Base class; override the points you need. Every hook runs on every process;
    use ``trainer.is_main`` for work (files, printing) that only rank 0 should do.
    ``priority``: lower runs first (checkpoints run after loggers).

    Hooks read what the trainer and the other hooks publish from ``trainer.messages``
    (:mod:`m5mm.engine.messages`: the step's ``train/*`` scalars, the ``train_log`` row, the
    ``eval_results``), never from attributes set on the trainer.

    A hook that accumulates over steps (averages, counts of an epoch) returns that state from
    :meth:`state_dict` as a JSON-able dict: every checkpoint stores it for each process and a
    resumed run gives it back through :meth:`load_state_dict` before ``before_run``, so what the
    hook writes describes the whole run, not only the part after the last resume. The state is stored
    under the hook's ``key``: its name in ``default_hooks`` (``metrics``, ``checkpoint``, ...), or its
    ``type`` for a hook of ``custom_hooks`` -- the same key a config uses for it.
    """

    priority = 50
    key: Optional[str] = None   # set by the builder (m5mm.engine.builder.build_hooks)

    def state_dict(self) -> Dict[str, Any]:
        """This process's JSON-able state to checkpoint (empty: nothing to keep)."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output from a checkpoint."""

    def before_run(self, trainer: 'Trainer') -> None:
        pass

    def before_train_epoch(self, trainer: 'Trainer') -> None:
        pass

    def after_train_step(self, trainer: 'Trainer', batch: dict, outputs: Dict[str, Tensor]) -> None:
        pass

    def after_train_epoch(self, trainer: 'Trainer') -> None:
        pass

    def after_run(self, trainer: 'Trainer') -> None:
        pass
