"""Warns when a modality's pooled embeddings collapse (every product gets nearly the same vector)."""
from __future__ import annotations

from collections import defaultdict, deque
from typing import Any, Deque, Dict, Optional, Set

from m5mm.models.backbones.collapse_statistics import COS_PREFIX, STD_PREFIX
from m5mm.registry import HOOKS
from m5mm.utils.distributed import unwrap_model

from .base import Hook


@HOOKS.register_module()
class CollapseMonitorHook(Hook):
    """Turns on the model's ``monitor_spread`` and reads its ``spread_cos_<m>`` / ``spread_std_<m>``
    outputs (the mean pairwise cosine and mean per-dimension std of modality m's pooled embeddings over
    the batch; the metrics logger writes them to ``metrics.jsonl``) and logs a warning when, averaged
    over the last ``window`` steps, a modality's cosine rises above ``cos_threshold`` or its std falls
    below ``std_threshold``: a collapsed tower gives every product the same vector and adds a shared
    component to ``joint``.
    It checks once ``window`` values have been seen, and warns once per collapse (again only after the
    modality recovered: its cosine back below ``cos_threshold - margin``, its std above
    ``std_threshold * (1 + margin)``, so a tower hovering at the threshold does not warn every few
    steps). Untrained towers give close vectors, so a collapse seen before ``warmup_steps`` is only
    logged (INFO); it becomes the warning if it lasts past ``warmup_steps`` or to the end of a shorter
    run. Values are per process.

    Args:
        cos_threshold: the mean pairwise cosine above which a modality counts as collapsed.
        std_threshold: the mean per-dimension std below which it counts as collapsed (None: not used).
        window: number of steps averaged.
        margin: how far back past a threshold a collapsed modality must come to count as recovered.
        warmup_steps: steps during which a collapse is logged as INFO, not warned about.
    """

    priority = 45

    def __init__(self, *, cos_threshold: float = 0.95, std_threshold: Optional[float] = None,
                 window: int = 10, margin: float = 0.05, warmup_steps: int = 100) -> None:
        if window < 1:
            raise ValueError(f'window must be >= 1, got {window}')
        self.cos_threshold = float(cos_threshold)
        self.std_threshold = None if std_threshold is None else float(std_threshold)
        self.window = int(window)
        self.margin = float(margin)
        self.warmup_steps = int(warmup_steps)
        self._values: Dict[str, Deque[float]] = defaultdict(lambda: deque(maxlen=self.window))
        self.collapsed: Set[str] = set()
        self.warned: Set[str] = set()

    def state_dict(self) -> Dict[str, Any]:
        return dict(values={k: list(v) for k, v in self._values.items()}, collapsed=sorted(self.collapsed),
                    warned=sorted(self.warned))

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for key, values in state.get('values', {}).items():
            self._values[key].extend(float(v) for v in values)
        self.collapsed = set(state.get('collapsed', ()))
        self.warned = set(state.get('warned', self.collapsed))

    def before_run(self, trainer) -> None:
        model = unwrap_model(trainer.model)
        if hasattr(model, 'monitor_spread'):
            model.monitor_spread = True
        else:
            trainer.logger.warning('CollapseMonitorHook: %s returns no embedding spread; nothing to monitor',
                                   type(model).__name__)

    def after_train_step(self, trainer, batch, outputs) -> None:
        for key, value in outputs.items():
            if key.startswith((COS_PREFIX, STD_PREFIX)):
                self._values[key].append(float(value))
        for modality in sorted({k[len(COS_PREFIX):] for k in self._values if k.startswith(COS_PREFIX)}):
            self._check(trainer, modality)
        if trainer.state.step >= self.warmup_steps:
            self._warn(trainer, 'lasting past the first %d steps' % self.warmup_steps)

    def after_run(self, trainer) -> None:
        self._warn(trainer, 'at the end of training')

    def means(self, modality: str) -> Dict[str, float]:
        """The windowed means {'cos': ..., 'std': ...} of ``modality`` (keys it has values for)."""
        out = {}
        for name, prefix in (('cos', COS_PREFIX), ('std', STD_PREFIX)):
            values = self._values.get(prefix + modality)
            if values:
                out[name] = sum(values) / len(values)
        return out

    def _check(self, trainer, modality: str) -> None:
        if len(self._values[COS_PREFIX + modality]) < self.window:
            return
        means = self.means(modality)
        was = modality in self.collapsed      # a collapsed modality recovers only past the margin
        cos_limit = self.cos_threshold - (self.margin if was else 0.0)
        reasons = []
        if means.get('cos', 0.0) > cos_limit:
            reasons.append(f'mean pairwise cosine {means["cos"]:.3f} > {cos_limit:.3f}')
        if self.std_threshold is not None:
            std_limit = self.std_threshold * (1.0 + self.margin if was else 1.0)
            if means.get('std', float('inf')) < std_limit:
                reasons.append(f'per-dimension std {means["std"]:.4f} < {std_limit:.4f}')
        collapsed = bool(reasons)
        if collapsed and modality not in self.collapsed:
            self.collapsed.add(modality)
            if trainer.state.step < self.warmup_steps:
                trainer.logger.info('Step %d: the %s embeddings are close together (%s), as is common in the first '
                                    'steps; a warning follows if this lasts past step %d', trainer.state.step,
                                    modality, ' and '.join(reasons), self.warmup_steps)
        elif not collapsed and modality in self.collapsed:
            self.collapsed.discard(modality)
            self.warned.discard(modality)
            trainer.logger.info('Step %d: the %s embeddings spread out again (mean pairwise cosine %.3f)',
                                trainer.state.step, modality, means.get('cos', float('nan')))

    def _warn(self, trainer, when: str) -> None:
        """One warning, with advice, per collapsed modality not yet warned about."""
        for modality in sorted(self.collapsed - self.warned):
            self.warned.add(modality)
            means = self.means(modality)
            spread = []
            if means.get('cos', 0.0) > self.cos_threshold - self.margin:
                spread.append(f'mean pairwise cosine {means["cos"]:.3f}, threshold {self.cos_threshold:.2f}')
            std_limit = None if self.std_threshold is None else self.std_threshold * (1 + self.margin)
            if std_limit is not None and means.get('std', float('inf')) < std_limit:
                spread.append(f'per-dimension std {means["std"]:.4f}, threshold {self.std_threshold:.4f}')
            trainer.logger.warning(
                'Step %d: the %s embeddings have collapsed (%s, mean of the last %d steps, %s): every product '
                'gets nearly the same %s vector, so %s adds little to search. If %s should tell products apart '
                'in your data, check its files (tools/inspect_dataset.py DATA --decode) and try '
                'model.modality_dropout=0.3, a lower optim.optimizer.lr or more data; see docs/training.md, '
                '"Collapse monitor"', trainer.state.step, modality, '; '.join(spread), self.window,
                when, modality, modality, modality)
