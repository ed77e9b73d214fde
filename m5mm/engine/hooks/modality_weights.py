"""Logs and plots, per epoch, the harmonizer's modality weights: which modality the model trusts."""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Dict, List

import torch

from m5mm.registry import HOOKS
from m5mm.utils.files import atomic_write_json

from .base import Hook
from .curves import plot_curves

PREFIX = 'weight_'


@HOOKS.register_module()
class ModalityWeightHook(Hook):
    """Averages the model's ``weight_<modality>`` outputs over each epoch, appends them to
    ``WORK_DIR/modality_weights.json`` and redraws ``modality_weights.png``; also redraws
    ``curves.png``, the logged losses and per-epoch metrics (:func:`plot_curves`), for every model.

    The values of an epoch that a checkpoint cut in two are carried in the checkpoint, so a
    resumed run writes the average of the whole epoch.
    """

    priority = 40

    def __init__(self, *, filename: str = 'modality_weights.json', plot: bool = True) -> None:
        self.filename = filename
        self.plot = plot
        self._epoch_values: Dict[str, List[float]] = defaultdict(list)
        self.history: List[dict] = []

    def state_dict(self) -> Dict[str, Any]:
        return dict(epoch_values={m: list(v) for m, v in self._epoch_values.items()})

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self._epoch_values = defaultdict(list, {m: [float(x) for x in v]
                                                for m, v in state.get('epoch_values', {}).items()})

    def before_run(self, trainer) -> None:
        path = trainer.work_dir / self.filename
        if trainer.is_main and path.is_file():  # resumed run: keep the earlier epochs
            self.history = [h for h in json.loads(path.read_text()) if h['epoch'] < trainer.state.epoch]

    def after_train_step(self, trainer, batch, outputs) -> None:
        for key, value in outputs.items():
            if key.startswith(PREFIX):
                self._epoch_values[key[len(PREFIX):]].append(float(value))

    def after_train_epoch(self, trainer) -> None:
        if self.plot and trainer.is_main:
            plot_curves(trainer.work_dir)
        names = sorted(self._epoch_values)
        if not names:
            return
        local = torch.tensor([sum(v) / len(v) for v in (self._epoch_values[n] for n in names)],
                             device=trainer.accelerator.device)
        means = trainer.accelerator.reduce(local, reduction='mean').tolist()
        self._epoch_values.clear()
        entry = dict(epoch=trainer.state.epoch, step=trainer.state.step, weights=dict(zip(names, means)))
        self.history.append(entry)
        if not trainer.is_main:
            return
        ranked = sorted(entry['weights'].items(), key=lambda kv: -kv[1])
        trainer.logger.info('Epoch %d modality weights: %s', trainer.state.epoch,
                            ', '.join(f'{m} {w:.3f}' for m, w in ranked))
        atomic_write_json(trainer.work_dir / self.filename, self.history)
        if self.plot:
            plot_modality_weights(self.history, trainer.work_dir / 'modality_weights.png')


def plot_modality_weights(history: List[dict], path) -> None:
    """Line plot of each modality's weight per epoch."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    modalities = sorted({m for h in history for m in h['weights']})
    for modality in modalities:
        points = [(h['epoch'] + 1, h['weights'][modality]) for h in history if modality in h['weights']]
        ax.plot(*zip(*points), marker='o', label=modality)
    ax.set_xlabel('epoch')
    ax.set_ylabel('mean harmonizer weight')
    ax.set_title('Modality importance (SCALE harmonizer)')
    ax.legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
