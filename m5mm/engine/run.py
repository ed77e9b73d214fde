"""Entry point behind ``tools/train.py``: config in, trained model (and final evaluation) out."""
from __future__ import annotations

from typing import Optional

from m5mm.engine.builder import resolve_work_dir
from m5mm.engine.trainer import Trainer
from m5mm.utils.config import load_config


def run_training(config: str, *, work_dir: Optional[str] = None, resume: Optional[str] = None,
                 cfg_options: Optional[dict] = None, max_steps: Optional[int] = None) -> Trainer:
    """Load ``config``, train, and return the trainer (its hooks ran the final evaluation)."""
    cfg = load_config(config, cfg_options)
    trainer = Trainer(cfg, work_dir=str(resolve_work_dir(cfg, config, work_dir)), resume=resume)
    trainer.train(max_steps=max_steps)
    trainer.accelerator.end_training()
    return trainer
