"""Encoders + fusion + projections + harmonizer: the backbone every multi-modal model is built on."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m5mm.models.builders import build
from m5mm.registry import FUSIONS, HARMONIZERS, HEADS, MODELS
from m5mm.structures import EncoderOutput, FusionOutput, HarmonizerOutput, select_modalities
from m5mm.models.fusion.fusion_utils import masked_joint
from .forward_context import ForwardContext
from .fused_centre import FusedCentre
from .modality_dropout import drop_modalities
from .parts import build_encoders, resolve_modalities

#: how :meth:`MultiModalBackbone.features` forms ``joint``: the fusion's own (the mean of the present
#: modalities' fused vectors for SCALE) or the fused vectors weighted by the harmonizer's importances
JOINT_SOURCES = ('fusion', 'importance', 'centred')

ConfigOrModule = Any


@MODELS.register_module()
class MultiModalBackbone(nn.Module):
    """One model over any set of modalities: encode, embed, fuse, weigh.

    Every encoder runs on every batch (absent samples are masked, never skipped), the fusion
    runs over all encoder outputs, the projection heads map each modality's ``pooled`` vector
    to the embedding the contrastive objectives and retrieval use, and the harmonizer weighs
    modality pairs. :meth:`context` opens a step's :class:`ForwardContext`, which runs these
    on demand for the objectives; :meth:`tie_unused` then guarantees that every parameter gets
    a gradient (DDP and DeepSpeed require it) whatever the objectives read.

    Args:
        encoders: modality -> encoder config (or module); None entries are skipped (a config
            can inherit a 5-modality base and set ``encoders=dict(video=None)``). Token
            encoders get ``vocab_size`` and ``pad_token_id`` from ``data_meta['tokenizer']``.
        fusion: fusion config (or module); gets ``modalities`` and ``in_dims`` (the encoders' ``dim``).
        harmonizer: harmonizer config (or module), or None for unweighted objectives.
        projection: a head config (e.g. ``dict(type='ProjectionHead', out_dim=256)``) built per
            modality on ``pooled`` (gets ``in_dim``), or None to use ``pooled`` as it is.
        modalities: keep only these of the configured encoders (order: ``encoders``').
        share_text_table: build the table encoder on the text encoder's model.
        data_meta: the dataset's ``meta`` (``tokenizer`` with ``vocab_size``, ``pad_id``, ...).
        modality_dropout: in training mode, mark each present modality of each sample absent with
            this probability, keeping at least one per sample (:func:`drop_modalities`); 0 = off.
            Never applied in eval mode (feature extraction, evaluation).
        joint: ``'fusion'`` (the fusion's ``joint``) or ``'importance'``: ``joint[b] = sum_m a[b, m]
            fused[m][b] / sum_m a[b, m]`` with ``a`` the per-sample importances of the harmonizer's
            weights of the fused vectors (:meth:`BaseHarmonizer.sample_importance`, clamped at 0);
            the fusion's ``joint`` where all are 0. Needs a harmonizer. ``'centred'``: the mean of the
            present modalities' fused vectors after subtracting each modality's running mean over
            training (:class:`FusedCentre`, updated by :meth:`track` in every training step).
        normalize_joint: L2-normalise ``joint`` (B, D). A mean of fused vectors has a norm that
            depends on how many modalities a product has and how much they agree, so under a dot
            product the incomplete records become hubs that every query retrieves (docs/benchmark.md,
            "More modalities"); unit vectors rank by cosine.

    Attributes:
        modalities: the modalities, in order (fusion sequence and harmonizer order).
        encoder_sharing: {modality: modality whose encoder model it runs on}.
    """

    def __init__(self, *, encoders: Mapping[str, ConfigOrModule], fusion: ConfigOrModule,
                 harmonizer: Optional[ConfigOrModule] = None, projection: Optional[dict] = None,
                 modalities: Optional[Sequence[str]] = None, share_text_table: bool = True,
                 data_meta: Optional[dict] = None, modality_dropout: float = 0.0, joint: str = 'fusion',
                 normalize_joint: bool = True) -> None:
        super().__init__()
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError(f'modality_dropout must be in [0, 1), got {modality_dropout}')
        if joint not in JOINT_SOURCES:
            raise ValueError(f'joint must be one of {JOINT_SOURCES}, got {joint!r}')
        if joint == 'importance' and harmonizer is None:
            raise ValueError("joint='importance' weighs the fused vectors by the harmonizer's importances; "
                             'configure a harmonizer')
        self.modality_dropout = float(modality_dropout)
        self.joint_source = joint
        self.normalize_joint = bool(normalize_joint)
        self.modalities: List[str] = resolve_modalities(encoders, modalities)
        tokenizer = dict((data_meta or {}).get('tokenizer') or {})
        self.encoders, self.encoder_sharing = build_encoders({m: encoders[m] for m in self.modalities},
                                                             tokenizer, share_text_table,
                                                             inputs=(data_meta or {}).get('inputs'))
        self.fusion = build(fusion, FUSIONS, 'fusion', dict(
            modalities=self.modalities, in_dims={m: int(e.dim) for m, e in self.encoders.items()
                                                 if hasattr(e, 'dim')}))
        self.harmonizer = None if harmonizer is None else \
            build(harmonizer, HARMONIZERS, 'harmonizer', dict(modalities=self.modalities))
        self.projections = None if projection is None else nn.ModuleDict({
            m: HEADS.build(dict(projection), default_args=dict(in_dim=self._pooled_dim(m))) for m in self.modalities})
        self.centre = FusedCentre(modalities=self.modalities, dim=self.fused_dim("joint='centred'")) \
            if joint == 'centred' else None

    def _pooled_dim(self, m: str) -> int:
        width = getattr(self.encoders[m], 'out_dim', None)
        if width is None:
            raise AttributeError(f'{type(self.encoders[m]).__name__} ({m}) has no `out_dim` (width of pooled)')
        return int(width)

    def fused_dim(self, owner: str) -> int:
        """The fusion width (its ``dim``), for heads on fused tokens; ``owner`` names the asker in the error."""
        dim = getattr(self.fusion, 'dim', None)
        if dim is None:
            raise AttributeError(f'{type(self.fusion).__name__} has no `dim` (its token width), which {owner} needs')
        return int(dim)

    def embedding_widths(self) -> Dict[str, int]:
        """{m: width of the embedding :meth:`embed` returns} (where known)."""
        if self.projections is not None:
            widths = {m: int(getattr(self.projections[m], 'out_dim', 0) or 0) for m in self.modalities}
            return {m: w for m, w in widths.items() if w}
        return {m: self._pooled_dim(m) for m in self.modalities if hasattr(self.encoders[m], 'out_dim')}

    # ------------------------------------------------------------------ computing

    def select(self, batch: Mapping[str, Any]) -> Dict[str, Dict[str, Tensor]]:
        """The batch entries of the backbone's modalities (a clear error for a missing one), with
        modality dropout applied in training mode."""
        inputs = select_modalities(batch, self.modalities, type(self).__name__)
        if self.training and self.modality_dropout > 0:
            inputs = drop_modalities(inputs, self.modalities, self.modality_dropout)
        return inputs

    def encode(self, inputs: Mapping[str, Mapping[str, Tensor]],
               mask_ratios: Optional[Mapping[str, float]] = None) -> Dict[str, EncoderOutput]:
        """Run every encoder -> {m: EncoderOutput}."""
        mask_ratios = mask_ratios or {}
        return {m: self.encoders[m](inputs[m], mask_ratio=mask_ratios.get(m, 0.0)) for m in self.modalities}

    def embed(self, encoded: Mapping[str, EncoderOutput]) -> Dict[str, Tensor]:
        """{m: (B, D)} pooled vectors, through the projection heads when configured."""
        if self.projections is None:
            return {m: encoded[m].pooled for m in self.modalities}
        return {m: self.projections[m](encoded[m].pooled) for m in self.modalities}

    def fuse(self, encoded: Mapping[str, EncoderOutput]) -> FusionOutput:
        """The fusion of encoder outputs (every modality, or a corrupted copy for negatives)."""
        return self.fusion(encoded)

    def harmonize(self, vectors: Mapping[str, Tensor], present: Mapping[str, Tensor]) -> Optional[HarmonizerOutput]:
        """The harmonizer's pair weights of {m: (B, D)} vectors; None without a harmonizer."""
        return None if self.harmonizer is None else self.harmonizer(dict(vectors), dict(present))

    def context(self, batch: Mapping[str, Any], objectives: Iterable = ()) -> ForwardContext:
        """A step's :class:`ForwardContext` over ``batch`` (``objectives`` mask their inputs)."""
        return ForwardContext(self, batch, objectives)

    def features(self, ctx: ForwardContext) -> Dict[str, Any]:
        """``joint`` (B, D), ``fused`` {m: (B, D)}, ``pooled`` {m: (B, D)} and ``present`` {m: (B,)}."""
        fused = ctx.fused
        if self.joint_source == 'fusion':
            joint = fused.joint
        elif self.joint_source == 'centred':
            joint = masked_joint(self.modalities, self.centre(fused.fused), ctx.present, fused.joint)
        else:
            joint = self.weighted_joint(ctx)
        if self.normalize_joint:
            joint = F.normalize(joint.float(), dim=-1).to(joint.dtype)
        return {'joint': joint, 'fused': dict(fused.fused), 'pooled': ctx.embeddings, 'present': ctx.present}

    def weighted_joint(self, ctx: ForwardContext) -> Tensor:
        """(B, D): the fused vectors weighted by the per-sample importances of the harmonizer's
        weights of them (see ``joint='importance'``)."""
        fused = ctx.fused
        weights = ctx.pair_weights('fused').weights
        present = torch.stack([ctx.present[m].bool() for m in self.modalities], dim=1)      # (B, M)
        share = self.harmonizer.sample_importance(weights, present).clamp_min(0.0)          # (B, M)
        stacked = torch.stack([fused.fused[m] for m in self.modalities], dim=1)           # (B, M, D)
        total = share.sum(dim=1, keepdim=True)
        mixed = (share[..., None].to(stacked.dtype) * stacked).sum(dim=1) / total.clamp_min(1e-12).to(stacked.dtype)
        return torch.where(total > 0, mixed, fused.joint)

    @torch.no_grad()
    def extract_features(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """Unmasked :meth:`features` of ``batch``."""
        return self.features(self.context(batch))

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """The unmasked :meth:`features` of ``batch`` (with gradients)."""
        return self.features(self.context(batch))

    def update_running_stats(self, ctx: ForwardContext) -> None:
        """Update the running statistics of a training step (the fused vectors' centre of
        ``joint='centred'``); nothing otherwise."""
        if self.centre is not None:
            self.centre.update(ctx.fused.fused, ctx.present)

    def tie_unused(self, ctx: ForwardContext) -> Tensor:
        """A 0 (float scalar) that depends on every output the step's objectives did not read: the
        pooled embeddings when none did, every fusion output (running the fusion if nothing did),
        and a harmonizer with parameters that did not run. Added to a loss, it gives each parameter
        a (zero) gradient, e.g. a stream of a multi-stream fusion whose tokens nothing reads."""
        parts = []
        if not (ctx.computed('embeddings') or ctx.computed('clean_embeddings')):
            parts += [e.float().sum() for e in ctx.embeddings.values()]
        fused = ctx.fused
        parts += [fused.joint.float().sum()] + [t.float().sum() for t in fused.tokens.values()]
        if self.harmonizer is not None and not ctx.importance() and any(
                p.requires_grad for p in self.harmonizer.parameters()):
            parts.append(ctx.pair_weights('embeddings').weights.float().sum())
        return 0.0 * sum(parts)
