"""Initialising a model from another model's checkpoint: copy the tensors whose name and shape match."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Union

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)


@dataclass
class WeightsLoadReport:
    """What :func:`load_matching_weights` did.

    Attributes:
        checkpoint: the resolved checkpoint path.
        loaded: model tensor names copied from the checkpoint.
        missing: model tensor names the checkpoint lacks (kept at their initialisation).
        unused: checkpoint tensor names the model has no place for (e.g. pretraining heads).
        mismatched: names present on both sides with different shapes (not copied).
    """

    checkpoint: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unused: List[str] = field(default_factory=list)
    mismatched: List[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the log."""
        def some(names: List[str]) -> str:
            return ', '.join(names[:4]) + (', ...' if len(names) > 4 else '') if names else '-'
        return (f'{self.checkpoint}: loaded {len(self.loaded)} tensors; missing {len(self.missing)} '
                f'({some(self.missing)}); unused {len(self.unused)} ({some(self.unused)}); '
                f'shape mismatch {len(self.mismatched)} ({some(self.mismatched)})')


def load_matching_weights(model: nn.Module, checkpoint: Union[str, Path]) -> WeightsLoadReport:
    """Copy into ``model`` every checkpoint tensor whose name and shape match one of its own.

    Args:
        model: the model to initialise (modified in place).
        checkpoint: a training checkpoint directory (Accelerate or DeepSpeed), a work dir (its
            latest checkpoint) or a weights file (``tools/convert_checkpoint.py`` output); names of
            an m5mm 0.1 checkpoint are upgraded first (:mod:`m5mm.models.checkpoint_names`).

    Returns:
        A :class:`WeightsLoadReport` (also logged).

    Raises:
        FileNotFoundError: no checkpoint at ``checkpoint``.
        ValueError: not a single tensor matched (the checkpoint is of another model).
    """
    from m5mm.checkpoint.manager import resolve_checkpoint
    from m5mm.checkpoint.weights import load_model_state_dict
    from m5mm.models.checkpoint_names import upgrade_state_dict
    path = resolve_checkpoint(checkpoint)
    own = model.state_dict()
    state: Dict[str, Tensor] = upgrade_state_dict(load_model_state_dict(path), own)
    report = WeightsLoadReport(checkpoint=str(path))
    matched = {}
    for name, value in state.items():
        if name not in own:
            report.unused.append(name)
        elif tuple(own[name].shape) != tuple(value.shape):
            report.mismatched.append(name)
        else:
            matched[name] = value
    report.loaded = sorted(matched)
    report.missing = sorted(name for name in own if name not in state)
    if not matched:
        raise ValueError(f'init_from={checkpoint}: no tensor of the checkpoint matches the model by name and '
                         f'shape (checkpoint names e.g. {list(state)[:3]}, model names e.g. {list(own)[:3]})')
    with torch.no_grad():
        model.load_state_dict(matched, strict=False)
    logger.info('Initialised %s from %s', type(model).__name__, report.summary())
    return report
