"""Contrastive-aware gradient accumulation: the loss of a batch of K*B at the activation memory of B."""
from __future__ import annotations

from contextlib import nullcontext
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from accelerate.utils import DistributedType
from torch import Tensor, nn

from m5mm.models.backbones.forward_context import WEIGHT_SOURCES, ForwardContext
from m5mm.models.micro_batch_plan import MicroBatchPlan
from m5mm.models.objectives.base_objective import COUNT_PREFIX
from m5mm.utils.distributed import unwrap_model

from .micro_batches import get_rng_state, set_rng_state, split_batch

Outputs = Dict[str, Tensor]


class ContrastiveAccumulator:
    """One training step's forward and backward over a batch split into ``steps`` micro-batches
    (GradCache, Gao et al. 2021; open_clip's ``--accum-freq``), equal to one batch of them all.

    1. *collect*: each micro-batch runs forward without gradients; the model caches the context
       fields of the objectives that declare :attr:`~m5mm.models.objectives.BaseObjective.batch_wide`
       ones (the contrastive embeddings) and keeps the ``count_<name>`` the others report (masked
       positions); the random state before each micro-batch is kept;
    2. *cache*: each batch-wide objective is called, as it always is, on a context holding its
       fields of all micro-batches concatenated
       (:meth:`~m5mm.models.backbones.ForwardContext.of_fields`; under DDP gathered over the
       processes as always, harmonizer weights included), and its loss is backpropagated to the
       cached fields, the temperature and the harmonizer;
    3. *replay*: each micro-batch runs again with gradients from its saved random state (the
       same masks and dropout); the model replaces a batch-wide loss by ``sum(z * dL/dz)`` of the
       fresh fields z and scales each other loss by its share of the whole batch's count
       (``n_k / N``: the sum is the whole batch's mean), 1/K without a count; gradients are
       synchronised across processes on the last micro-batch only.

    The objectives never see the accumulation (see :class:`~m5mm.models.micro_batch_plan.MicroBatchPlan`).

    Loss and gradients equal those of the whole batch within float tolerance for the
    batch-wide and counting objectives with per-sample harmonizers (the shipped contrastive,
    masked-modelling and classification ones); objectives that draw negatives inside the batch
    without declaring ``batch_wide`` (matching, subset consistency) see those of their micro-batch.
    The logged outputs are the whole batch's for the batch-wide objectives and the ``weight_<m>``
    of their fields, count-weighted means for ``loss_``/``acc_`` of counting objectives, and the
    micro-batch mean otherwise. Costs one extra forward per micro-batch.

    Args:
        accelerator: the run's Accelerator (backward, autocast, ``no_sync``, the fp16 scaler).
        steps: K, the number of micro-batches of each loader batch.
    """

    def __init__(self, *, accelerator, steps: int) -> None:
        if int(steps) < 1:
            raise ValueError(f'optim.contrastive_accumulation must be >= 1, got {steps}')
        self.accelerator = accelerator
        self.steps = int(steps)

    def forward_backward(self, model: nn.Module, batch: Mapping) -> Outputs:
        """Forward and backward of ``batch`` through the (prepared) ``model``; returns the whole batch's
        outputs (detached). Leaves the random state as one pass over the micro-batches does."""
        micro = split_batch(dict(batch), self.steps)
        inner = unwrap_model(model)
        states, plans, outs = [], [], []
        for part in micro:
            states.append(get_rng_state())
            plan = MicroBatchPlan(phase='collect')
            with torch.no_grad():
                outs.append({k: v.detach() for k, v in model(part, plan=plan).items()})
            plans.append(plan)
        end_state = get_rng_state()
        grads, cached_out = self._cache_backward(inner, plans, [batch_len(p) for p in micro])
        scales = _position_shares(plans)
        for k, part in enumerate(micro):
            set_rng_state(states[k])
            slices = {n: {f: {m: g[k] for m, g in per_m.items()} for f, per_m in per_f.items()}
                      for n, per_f in grads.items()}
            plan = MicroBatchPlan(phase='replay', field_grads=slices, scales=scales[k], default_scale=1.0 / len(micro))
            sync = nullcontext() if k == len(micro) - 1 else self.accelerator.no_sync(model)
            with sync:
                out = model(part, plan=plan)
                self.accelerator.backward(sum(v for key, v in out.items() if key.startswith('loss')))
        set_rng_state(end_state)
        return _combine(outs, plans, cached_out)

    def _cache_backward(self, inner: nn.Module, plans: List[MicroBatchPlan], sizes: List[int]
                        ) -> Tuple[Dict[str, Dict[str, Dict[str, List[Tensor]]]], Outputs]:
        """Step 2: {objective: {field: {m: [dL/dz of each micro-batch]}}} and the batch-wide outputs."""
        objectives = [obj for obj in inner.objectives.values() if obj.name in plans[0].cached]
        if not objectives:
            return {}, {}
        leaves, total, out, importance = {}, 0.0, {}, {}
        with self.accelerator.autocast():
            for objective in objectives:
                name = objective.name
                fields = {f: {m: torch.cat([p.cached[name][0][f][m] for p in plans]).requires_grad_(True)
                              for m in per_m} for f, per_m in plans[0].cached[name][0].items()}
                present = {m: torch.cat([p.cached[name][1][m] for p in plans]) for m in plans[0].cached[name][1]}
                ctx = ForwardContext.of_fields(inner.backbone, fields, present)
                result = objective(ctx)
                for source, weights in ctx.weights_computed().items():
                    importance.setdefault(source, weights.importance)
                total = total + sum(v for k, v in result.items() if k.startswith('loss'))
                leaves[name] = fields
                out.update({k: v.detach() for k, v in result.items() if not k.startswith(COUNT_PREFIX)})
        self.accelerator.backward(total)
        scaler = getattr(self.accelerator, 'scaler', None)
        unscale = float(scaler.get_scale()) if scaler is not None else 1.0   # replay's backward scales again
        grads = {name: {f: {m: list((z.grad / unscale).split(sizes)) for m, z in per_m.items()}
                        for f, per_m in fields.items()} for name, fields in leaves.items()}
        source = next((s for s in WEIGHT_SOURCES if s in importance), None)
        if source is not None:
            out.update({f'weight_{m}': v.detach() for m, v in importance[source].items()})
        return grads, out


def batch_len(batch: Mapping) -> int:
    """The number of samples of a micro-batch."""
    return len(batch['meta']['ids'])


def _position_shares(plans: List[MicroBatchPlan]) -> List[Dict[str, float]]:
    """Per micro-batch {masked objective: n_k / N} (objectives with no position at all: none)."""
    totals = {name: sum(p.counts.get(name, 0) for p in plans) for name in plans[0].counts}
    return [{name: p.counts.get(name, 0) / n for name, n in totals.items() if n > 0} for p in plans]


def _combine(outs: List[Outputs], plans: List[MicroBatchPlan], cached_out: Outputs) -> Outputs:
    """The whole batch's logged outputs from the micro-batches' (see :class:`ContrastiveAccumulator`)."""
    shares = _position_shares(plans)
    result = {}
    for key in dict.fromkeys(k for o in outs for k in o):
        name = key.split('_', 1)[1] if key.startswith(('loss_', 'acc_')) else None
        if name in shares[0]:
            result[key] = sum(o[key] * s[name] for o, s in zip(outs, shares))
        else:   # a mean over the micro-batches that report it (e.g. a spread needs 2 samples of a modality)
            values = [o[key] for o in outs if key in o]
            result[key] = sum(values) / len(values)
    result.update(cached_out)
    return result


def build_contrastive_accumulator(optim: Mapping, accelerator) -> Optional[ContrastiveAccumulator]:
    """The accumulator of ``optim.contrastive_accumulation`` (None when unset or 1).

    Raises:
        ValueError: combined with ``optim.accumulation_steps`` > 1, or under DeepSpeed (whose engine
            owns the backward; use ``accumulation_steps`` there).
    """
    steps = int(optim.get('contrastive_accumulation') or 1)
    if steps == 1:
        return None
    if int(optim.get('accumulation_steps') or 1) > 1:
        raise ValueError('optim.contrastive_accumulation and optim.accumulation_steps > 1 do not combine: '
                         'contrastive_accumulation=K splits each loader batch into K micro-batches; set '
                         'accumulation_steps=1 (and the loader batch size to K x the micro-batch)')
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        raise ValueError('optim.contrastive_accumulation runs on one process or under DDP, not under DeepSpeed '
                         '(its engine owns the backward); use ZeRO with optim.accumulation_steps, or DDP')
    return ContrastiveAccumulator(accelerator=accelerator, steps=steps)
