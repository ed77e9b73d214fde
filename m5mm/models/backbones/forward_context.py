"""What one training (or inference) step computes once and every objective reads."""
from __future__ import annotations

import warnings
from functools import cached_property
from typing import TYPE_CHECKING, Any, Dict, Iterable, Mapping, Optional, Tuple

from torch import Tensor

from m5mm.structures import META_KEY, EncoderOutput, FusionOutput, HarmonizerOutput

if TYPE_CHECKING:
    from .multi_modal_backbone import MultiModalBackbone

#: the vectors a harmonizer can weigh: the pooled embeddings (of the masked or the unmasked
#: encoder pass) or the fusion's per-modality vectors
WEIGHT_SOURCES = ('embeddings', 'clean_embeddings', 'fused')
Inputs = Dict[str, Dict[str, Tensor]]


class ForwardContext:
    """One step's forward pass of a backbone, computed lazily and at most once.

    Objectives read what they need; the first read computes it, later reads (by any objective)
    get the same tensors:

    * ``inputs``: the batch entries of the backbone's modalities;
    * ``masked_inputs`` / :meth:`labels`: the inputs after every objective's :meth:`mask_inputs`
      (objectives masking a modality, in order), and each one's labels;
    * ``encoded``: the encoders on the masked inputs (continuous modalities masking their
      ``encoder_mask_ratio``); ``clean_encoded``: a second, unmasked pass (the same when nothing
      is masked);
    * ``present``: {m: (B,) bool};
    * ``embeddings`` / ``clean_embeddings``: {m: (B, D)} pooled vectors through the projections;
    * ``fused``: the fusion of ``encoded``;
    * :meth:`pair_weights` / :meth:`masked_task_weight`: the harmonizer's weights of one of
      :data:`WEIGHT_SOURCES`.

    :meth:`of_fields` makes a context that holds given fields of a whole batch (contrastive
    accumulation's cached embeddings); computing any other field there fails (it has no batch).

    Args:
        backbone: the backbone that computes.
        batch: the collated batch (docs/concepts.md layout).
        objectives: the objectives of the step (those that mask inputs are asked to).
    """

    def __init__(self, backbone: 'MultiModalBackbone', batch: Mapping[str, Any], objectives: Iterable = ()) -> None:
        self.backbone = backbone
        self.batch = batch
        self.objectives = list(objectives)
        self._weights: Dict[str, Optional[HarmonizerOutput]] = {}

    @classmethod
    def of_fields(cls, backbone: 'MultiModalBackbone', fields: Mapping[str, Mapping[str, Tensor]],
                  present: Mapping[str, Tensor], meta: Optional[Mapping[str, Any]] = None) -> 'ForwardContext':
        """A context whose ``fields`` (e.g. ``{'embeddings': {m: (N, D)}}``), ``present`` and ``meta``
        (the batch's ids and labels, e.g. the groups of a multi-positive loss) are given (the whole
        batch of a contrastive-accumulation step); the harmonizer weighs them on demand."""
        unknown = sorted(set(fields) - set(WEIGHT_SOURCES) - {'fused'})
        if unknown:
            raise KeyError(f'ForwardContext.of_fields: {unknown} are no cacheable fields ({WEIGHT_SOURCES})')
        ctx = cls(backbone, {META_KEY: meta} if meta else {})   # no inputs: anything else fails
        ctx.__dict__.update({name: dict(value) for name, value in fields.items()}, present=dict(present))
        return ctx

    @classmethod
    def of_encoded(cls, backbone: 'MultiModalBackbone', encoded: Mapping[str, EncoderOutput]) -> 'ForwardContext':
        """A context whose towers ran outside (an exported fusion graph): ``encoded`` given, nothing
        masked (``clean_encoded`` / ``clean_embeddings`` are the same as ``encoded`` / ``embeddings``)."""
        ctx = cls(backbone, {})
        ctx.__dict__.update(encoded=dict(encoded), _masking=({}, {}, {}))
        return ctx

    @property
    def meta(self) -> Mapping[str, Any]:
        """``batch['meta']`` (ids, labels)."""
        return self.batch.get(META_KEY) or {}

    @cached_property
    def inputs(self) -> Inputs:
        return self.backbone.select(self.batch)

    @cached_property
    def _masking(self) -> Tuple[Inputs, Dict[str, Optional[Tensor]], Dict[str, float]]:
        inputs, labels, ratios = dict(self.inputs), {}, {}
        for objective in self.objectives:
            modality = objective.masked_modality
            if modality is None:
                continue
            inputs[modality], labels[objective.name] = objective.mask_inputs(self.inputs[modality])
            ratios[modality] = objective.encoder_mask_ratio
        return inputs, labels, ratios

    @property
    def masked_inputs(self) -> Inputs:
        return self._masking[0]

    def labels(self, name: str) -> Optional[Tensor]:
        """The labels the objective called ``name`` returned from ``mask_inputs`` (None if none)."""
        return self._masking[1].get(name)

    @property
    def masks_anything(self) -> bool:
        """Whether an objective masks a modality this step."""
        return bool(self._masking[2])

    @cached_property
    def encoded(self) -> Dict[str, EncoderOutput]:
        inputs, _, ratios = self._masking
        return self.backbone.encode(inputs, ratios)

    @cached_property
    def clean_encoded(self) -> Dict[str, EncoderOutput]:
        return self.backbone.encode(self.inputs) if self.masks_anything else self.encoded

    @cached_property
    def present(self) -> Dict[str, Tensor]:
        return {m: self.encoded[m].present for m in self.backbone.modalities}

    @cached_property
    def embeddings(self) -> Dict[str, Tensor]:
        return self.backbone.embed(self.encoded)

    @cached_property
    def clean_embeddings(self) -> Dict[str, Tensor]:
        return self.backbone.embed(self.clean_encoded) if self.masks_anything else self.embeddings

    @cached_property
    def fused(self) -> FusionOutput:
        return self.backbone.fuse(self.encoded)

    def computed(self, name: str) -> bool:
        """Whether the attribute ``name`` (e.g. ``'fused'``) has been computed this step."""
        return name in self.__dict__

    def pair_weights(self, source: str = 'embeddings') -> Optional[HarmonizerOutput]:
        """The harmonizer's (B, M, M) weights of ``source`` (one of :data:`WEIGHT_SOURCES`), None
        without a harmonizer."""
        if source not in WEIGHT_SOURCES:
            raise ValueError(f'source must be one of {WEIGHT_SOURCES}, got {source!r}')
        if source not in self._weights:
            vectors = {m: self.fused.fused[m] for m in self.backbone.modalities} if source == 'fused' \
                else getattr(self, source)
            self._weights[source] = self.backbone.harmonize(vectors, self.present)
        return self._weights[source]

    def masked_task_weight(self, modality: str) -> Optional[Tensor]:
        """``W[b, m, m]`` (B,) of the fused vectors' weights: the weight of ``modality``'s masked task."""
        out = self.pair_weights('fused')
        if out is None:
            return None
        k = self.backbone.modalities.index(modality)
        return out.weights[:, k, k]

    def self_weight(self, modality: str) -> Optional[Tensor]:
        """Deprecated alias of :meth:`masked_task_weight` (m5mm 0.2)."""
        warnings.warn('ForwardContext.self_weight is renamed masked_task_weight (m5mm 0.3)', FutureWarning,
                      stacklevel=2)
        return self.masked_task_weight(modality)

    def weights_computed(self) -> Dict[str, HarmonizerOutput]:
        """{source: the harmonizer's output} of the sources weighed so far this step."""
        return {source: out for source, out in self._weights.items() if out is not None}

    def importance(self) -> Dict[str, Tensor]:
        """The harmonizer's per-modality importance of this step (for ``weight_<m>``): of the pooled
        embeddings' weights when they were computed, else of the fused vectors'; {} if neither."""
        for source in WEIGHT_SOURCES:
            out = self._weights.get(source)
            if out is not None:
                return dict(out.importance)
        return {}
