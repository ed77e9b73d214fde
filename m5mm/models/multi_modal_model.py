"""A backbone and named objectives: the one shape of every m5mm model (pretraining, classification)."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from .backbones import MultiModalBackbone
from .backbones.spread import modality_spread
from .checkpoint_names import PRETRAINER_ORDER, legacy_order_differs, upgrade_state_dict
from .micro_batch_plan import MicroBatchPlan
from .objectives.base_objective import COUNT_PREFIX
from .unused_parameters import tie_unused

logger = logging.getLogger('m5mm')


class MultiModalModel(nn.Module):
    """``forward(batch)``: open the backbone's :class:`~m5mm.models.backbones.ForwardContext` for the
    step, call every objective on it (``objective(ctx) -> {name: tensor}``), prepend the
    harmonizer's per-modality importance (``weight_<m>``), add to the first loss a 0 that
    depends on every output no objective read and every parameter no loss reached (so that
    every parameter gets a gradient; objectives do not tie anything) and, in training mode with
    :attr:`monitor_spread` set (``CollapseMonitorHook`` sets it), append the collapse monitor's
    ``spread_cos_<m>`` / ``spread_std_<m>`` of the pooled embeddings
    (:func:`~m5mm.models.backbones.spread.modality_spread`, detached).
    ``extract_features(batch)``: the backbone's features of the unmasked batch plus what the objectives predict (a
    classifier's ``logits``).

    Checkpoints of m5mm 0.1 load as they are (``load_state_dict`` renames their parameters, see
    :mod:`m5mm.models.checkpoint_names`).

    Args:
        backbone: the built backbone.
        objectives: name -> built objective (see :class:`~m5mm.models.objectives.BaseObjective`).
    """

    #: the order of the parts' parameters in m5mm 0.1 (see :mod:`m5mm.models.checkpoint_names`)
    legacy_order: Tuple[str, ...] = PRETRAINER_ORDER
    #: return ``spread_cos_<m>`` / ``spread_std_<m>`` from a training forward (off: the outputs stay as recorded)
    monitor_spread: bool = False

    def __init__(self, *, backbone: MultiModalBackbone, objectives: Mapping[str, nn.Module]) -> None:
        super().__init__()
        if not objectives:
            raise ValueError(f'{type(self).__name__} needs at least one objective')
        self.backbone = backbone
        self.objectives = nn.ModuleDict(dict(objectives))
        self.register_load_state_dict_pre_hook(_upgrade_legacy_names)

    @property
    def modalities(self) -> List[str]:
        """The backbone's modalities."""
        return self.backbone.modalities

    def forward(self, batch: Mapping[str, Any], plan: Optional[MicroBatchPlan] = None) -> Dict[str, Tensor]:
        """batch (docs/concepts.md layout) -> named losses, metrics and ``weight_<m>`` importances.

        ``plan``: the batch is a micro-batch of a contrastive-accumulation step (see
        :class:`~m5mm.models.micro_batch_plan.MicroBatchPlan`): the model caches the batch-wide
        objectives' fields (collect) or returns their surrogate (replay), and weights the other
        objectives' losses by the counts they report. The objectives never see the plan.
        """
        ctx = self.backbone.context(batch, self.objectives.values())
        out: Dict[str, Tensor] = {}
        for objective in self.objectives.values():
            new = self._objective_outputs(objective, ctx, plan)
            clash = sorted(set(out) & set(new))
            if clash:
                raise KeyError(f'two objectives return the same output keys {clash}; give them different names')
            out.update(new)
        out = {**{f'weight_{m}': v for m, v in ctx.importance().items()}, **out}
        key = next((k for k in out if k.startswith('loss')), None)
        if key is None:
            raise ValueError(f'the objectives {list(self.objectives)} returned no loss_* key')
        out[key] = out[key] + self.backbone.tie_unused(ctx)
        tie = tie_unused(self, [v for k, v in out.items() if k.startswith('loss')])
        if tie is not None:
            out[key] = out[key] + tie
        if self.training:
            self.backbone.update_running_stats(ctx)
        if self.training and self.monitor_spread:
            with torch.no_grad():
                out.update(modality_spread(ctx.embeddings, ctx.present))
        return out

    @staticmethod
    def _objective_outputs(objective: nn.Module, ctx: Any, plan: Optional[MicroBatchPlan]) -> Dict[str, Tensor]:
        """One objective's outputs, its ``count_<name>`` taken out (and used under ``plan``)."""
        fields = tuple(getattr(objective, 'batch_wide', ()) or ())
        name = objective.name
        if plan is not None and fields:
            values = {f: getattr(ctx, f) for f in fields}
            if plan.collecting:
                plan.cached[name] = ({f: {m: z.detach() for m, z in v.items()} for f, v in values.items()},
                                     {m: p.detach() for m, p in ctx.present.items()})
                some = next(iter(next(iter(values.values())).values()))
                return {f'loss_{name}': some.new_zeros((), dtype=torch.float32)}   # the cache step gives the batch's
            grads = plan.field_grads[name]
            return {f'loss_{name}': sum((v[m].float() * grads[f][m]).sum() for f, v in values.items() for m in v)}
        new = dict(objective(ctx))
        counts = [new.pop(k) for k in [k for k in new if k.startswith(COUNT_PREFIX)]]
        if plan is not None and plan.collecting and counts:
            plan.counts[name] = int(sum(int(c) for c in counts))
        elif plan is not None and not plan.collecting:
            factor = plan.scale(name)
            new = {k: v * factor if k.startswith('loss') else v for k, v in new.items()}
        return new

    @torch.no_grad()
    def extract_features(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """``joint`` (B, D), ``fused`` {m: (B, D)}, ``pooled`` {m: (B, D)}, ``present`` {m: (B,)} of the
        unmasked batch, plus each objective's :meth:`predict` (e.g. ``logits`` (B, C))."""
        ctx = self.backbone.context(batch)
        features = self.backbone.features(ctx)
        for objective in self.objectives.values():
            features.update(objective.predict(ctx))
        return features


def _upgrade_legacy_names(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load-state-dict pre-hook: rename the parameters of an m5mm 0.1 checkpoint in place (and warn
    when its parameter order differs, which an optimizer state saved with it depends on)."""
    names = [prefix + name for name in module.state_dict(keep_vars=True)]
    names += [prefix + name for name, _ in module.named_parameters(remove_duplicate=False)]  # tied, not saved
    upgraded = upgrade_state_dict(state_dict, names, prefix)
    if list(upgraded) == list(state_dict):
        return
    state_dict.clear()
    state_dict.update(upgraded)
    masked = [name for name, objective in module.objectives.items()
              if getattr(objective, 'masked_modality', None) is not None]
    if legacy_order_differs([name for name, _ in module.named_parameters()], module.legacy_order, masked):
        logger.warning('%s: loaded a checkpoint of m5mm 0.1 whose parameters are in another order; its '
                       'weights are fine, but do not resume its optimizer state (start a new run with '
                       'load_from / init_from)', type(module).__name__)
