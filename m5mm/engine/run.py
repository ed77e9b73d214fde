"""Entry point behind ``tools/train.py``: config in, trained model (and final evaluation) out."""
from __future__ import annotations

from typing import Optional

from m5mm.engine.builder import resolve_work_dir
from m5mm.engine.trainer import Trainer
from m5mm.utils.config import load_config


def run_training(config: str, *, work_dir: Optional[str] = None, resume: Optional[str] = None,
                 cfg_options: Optional[dict] = None, max_steps: Optional[int] = None,
                 allow_config_change: bool = False) -> Trainer:
    """Load ``config``, train, and return the trainer (its hooks ran the final evaluation).

    The exception that stops a run (after its log was opened) is also written to ``WORK_DIR/train.log``.
    """
    cfg = load_config(config, cfg_options)
    work_dir = resolve_work_dir(cfg, config, work_dir)
    trainer = None
    try:
        trainer = Trainer(cfg, work_dir=str(work_dir), resume=resume, cfg_options=cfg_options,
                          allow_config_change=allow_config_change)
        trainer.train(max_steps=max_steps)
        trainer.accelerator.end_training()
    except BaseException as exc:
        if trainer is not None:   # (a trainer that failed to start has logged it already)
            trainer.log_failure(exc)
        raise
    finally:
        if trainer is not None:
            trainer.close()
    return trainer
