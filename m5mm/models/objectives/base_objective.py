"""The one protocol every training objective follows: ``objective(ctx) -> {name: tensor}``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext

Inputs = Dict[str, Tensor]

#: prefix of the output an objective reports the number of items its losses average over with
COUNT_PREFIX = 'count_'


class BaseObjective(nn.Module):
    """A training objective: its head (if any) and its loss, a pure function of a forward context.

    ``objective(ctx) -> {'loss_<name>': (), 'acc_<name>': (), ...}``: the model builds one
    :class:`~m5mm.models.backbones.ForwardContext` per step and calls every objective with it;
    the context computes what an objective asks for (encoder outputs, fused tokens, pooled
    embeddings, harmonizer weights) on first use and shares it with the others. Keys starting
    with ``loss`` are summed by the trainer, the others are logged. ``objective.predict(ctx)``
    returns what the objective adds to the model's features (a classifier's ``logits``).

    What the model does, so that an objective does not:

    * **counts**: an objective whose losses are a mean over a number of items that varies from
      batch to batch (masked positions, labelled samples) returns it as ``count_<name>`` (an int or
      a 0-d tensor); the model removes it from the outputs and, under contrastive accumulation,
      weights the objective's ``loss_*`` / ``acc_*`` of each micro-batch by its share of the batch's
      count (without one: 1 / K);
    * **batch-wide inputs**: an objective whose loss needs the whole batch at once (in-batch
      negatives) lists the context fields it reads in :attr:`batch_wide` (e.g. ``('embeddings',)``;
      it may also read ``present`` and the harmonizer's ``pair_weights`` of those fields). Under
      contrastive accumulation it is called once per step on a context that holds those fields of
      the whole batch (cached, see :class:`~m5mm.models.micro_batch_plan.MicroBatchPlan`);
    * **unused parameters**: the model gives every trainable parameter that no output depends on
      a zero gradient (DDP and DeepSpeed need every parameter used), so an objective returns a
      plain 0 when there is nothing to learn from.

    Declarations, read before and after building:

    * :attr:`needs`: the build-time facts (:class:`~m5mm.models.objectives.ObjectiveBuildFacts`:
      ``backbone``, ``data_meta``, ``mask_ratio``) the constructor takes; each must be one of its
      keywords (a renamed argument is an error at build time, not a fact silently left out);
    * :meth:`required_modalities` (from a config) and :attr:`modalities` (built): the modalities
      it needs. A model drops the objectives whose modalities it does not have;
    * :attr:`min_modalities`: how many modalities it needs at least (2 for cross-modal ones);
    * :attr:`masked_modality`: the modality whose inputs it masks before the encoders run (None
      for most), with :meth:`mask_inputs` and :attr:`encoder_mask_ratio`.

    A subclass registered in ``OBJECTIVES`` takes keyword arguments only; the model passes
    ``name`` (the objective's key in the config), the facts it declares, and ``head`` = another
    objective's head for a config that says ``share_head='<that objective>'``.

    Args:
        name: key suffix of the outputs (``loss_<name>``).
        loss_weight: factor of ``loss_<name>``.
    """

    #: the build facts the constructor takes (None: inferred from the signature, deprecated)
    needs: ClassVar[Optional[Tuple[str, ...]]] = None
    #: the context fields the loss needs over the whole batch (see above); () for most objectives
    batch_wide: Tuple[str, ...] = ()
    min_modalities = 1

    def __init__(self, *, name: str, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.name = name
        self.loss_weight = loss_weight
        self.modalities: Tuple[str, ...] = ()

    @classmethod
    def required_modalities(cls, cfg: Mapping[str, Any]) -> Tuple[str, ...]:
        """The modalities an objective built from ``cfg`` needs (its ``modality``, if set)."""
        modality = cfg.get('modality')
        return (modality,) if modality is not None else ()

    @property
    def masked_modality(self) -> Optional[str]:
        """The modality whose raw inputs :meth:`mask_inputs` masks (None: masks nothing)."""
        return None

    @property
    def encoder_mask_ratio(self) -> float:
        """The ``mask_ratio`` the masked modality's encoder gets (continuous modalities mask there)."""
        return 0.0

    def mask_inputs(self, inputs: Inputs, generator: Optional[torch.Generator] = None
                    ) -> Tuple[Inputs, Optional[Tensor]]:
        """Mask the raw inputs of :attr:`masked_modality` -> (inputs, labels or None)."""
        return inputs, None

    def forward(self, ctx: 'ForwardContext') -> Dict[str, Tensor]:
        """ctx -> named scalars."""
        raise NotImplementedError

    def predict(self, ctx: 'ForwardContext') -> Dict[str, Tensor]:
        """ctx (of an unmasked batch) -> the features the objective adds (none by default)."""
        return {}
