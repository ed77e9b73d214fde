"""A hook for the shard tests: writes the sample ids each process trained on, per epoch."""
from __future__ import annotations

import json

from m5mm.engine.hooks.base import Hook
from m5mm.registry import HOOKS


@HOOKS.register_module()
class RecordBatchIdsHook(Hook):
    """Writes ``WORK_DIR/ids_rank<R>.json``: ``{epoch: [ids in training order]}``."""

    def before_run(self, trainer) -> None:
        self.ids = {}

    def after_train_step(self, trainer, batch, outputs) -> None:
        self.ids.setdefault(str(trainer.state.epoch), []).extend(batch['meta']['ids'])

    def after_run(self, trainer) -> None:
        path = trainer.work_dir / f'ids_rank{trainer.accelerator.process_index}.json'
        path.write_text(json.dumps(self.ids))
