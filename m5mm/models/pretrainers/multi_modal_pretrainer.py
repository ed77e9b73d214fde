"""Encoders + fusion + harmonizer + losses: the generic multi-modal pretrainer."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import torch
from torch import Tensor, nn

from m5mm.models.losses import BaseFusionLoss, BaseMaskedLoss
from m5mm.registry import ENCODERS, FUSIONS, HARMONIZERS, HEADS, LOSSES, MODELS
from m5mm.structures import EncoderOutput, FusionOutput, select_modalities
from .builders import accepts, build, config_class

ConfigOrModule = Any


@MODELS.register_module()
class MultiModalPretrainer(nn.Module):
    """One model over any set of modalities, trained with named losses.

    ``forward(batch)``: token-level losses (MLM, MEM) mask their modality's ids, every
    encoder runs (continuous ones masking ``mask_ratio`` of their tokens when a masked
    regression loss asks for it), the fusion runs over all encoder outputs, the harmonizer
    weighs modality pairs from the encoders' ``pooled`` vectors (contrastive losses) and from
    the fusion's ``fused`` vectors (the diagonal ``W[b, m, m]`` weighs modality m's masked
    task), fusion-level losses (:class:`~m5mm.models.losses.BaseFusionLoss`, e.g. matching)
    get the encoder outputs, the fusion module and its output, and every loss returns named
    scalars. Every encoder runs on every batch and absent
    samples are masked, so every parameter gets a gradient each step.

    Args:
        encoders: modality -> encoder config (or module). Text/table configs get
            ``vocab_size`` (and ``pad_token_id``) from ``data_meta['tokenizer']`` when unset.
            A None entry drops the modality (a config can inherit a 5-modality base and set
            ``encoders=dict(video=None)``).
        fusion: fusion config; gets ``modalities`` and ``in_dims`` (the encoders' ``dim``).
        harmonizer: harmonizer config, or None for unweighted losses.
        losses: loss name -> loss config (None entries are dropped); a loss's ``name`` defaults
            to its key, masked losses get ``tokenizer`` and ``mask_ratio`` defaults from here,
            fusion losses ``dim`` (the fusion width). Fusion losses are called as
            ``loss(encoded=, fusion=, fused_output=)``; the other non-masked losses as
            ``loss(embeddings, present, weights)`` on the pooled vectors.
        mask_ratio: default masking ratio of the masked losses.
        share_text_table: build the table encoder on the text encoder's backbone.
        contrastive_on_unmasked: feed the contrastive losses from a second, unmasked pass of
            the encoders (default: the pooled vectors of the masked pass).
        projection: a head config (e.g. ``dict(type='ProjectionHead', out_dim=256)``) applied
            per modality to ``pooled`` before the contrastive losses (gets ``in_dim``).
        data_meta: the dataset's ``meta`` (``tokenizer`` dict with vocab_size/pad_id/cls_id/
            sep_id/mask_id).
    """

    def __init__(self, *, encoders: Mapping[str, ConfigOrModule], fusion: ConfigOrModule,
                 harmonizer: Optional[ConfigOrModule] = None, losses: Mapping[str, ConfigOrModule],
                 mask_ratio: float = 0.15, share_text_table: bool = True,
                 contrastive_on_unmasked: bool = False, projection: Optional[dict] = None,
                 data_meta: Optional[dict] = None) -> None:
        super().__init__()
        encoders = {m: cfg for m, cfg in encoders.items() if cfg is not None}
        losses = {name: cfg for name, cfg in losses.items() if cfg is not None}
        if not encoders:
            raise ValueError(f'{type(self).__name__} needs at least one encoder')
        self.modalities: List[str] = list(encoders)
        self.mask_ratio = mask_ratio
        self.contrastive_on_unmasked = contrastive_on_unmasked
        tokenizer = dict((data_meta or {}).get('tokenizer') or {})
        self.encoders = self._build_encoders(encoders, tokenizer, share_text_table)
        self.fusion = build(fusion, FUSIONS, 'fusion', dict(
            modalities=self.modalities, in_dims={m: int(e.dim) for m, e in self.encoders.items()
                                                 if hasattr(e, 'dim')}))
        self.harmonizer = None if harmonizer is None else \
            build(harmonizer, HARMONIZERS, 'harmonizer', dict(modalities=self.modalities))
        self.losses = nn.ModuleDict({
            name: build(cfg, LOSSES, f'losses[{name!r}]', dict(name=name, tokenizer=tokenizer or None,
                                                               mask_ratio=mask_ratio,
                                                               dim=getattr(self.fusion, 'dim', None)))
            for name, cfg in losses.items()})
        if not self.losses:
            raise ValueError(f'{type(self).__name__} needs at least one loss')
        self.heads = self._build_heads()
        self.projections = None if projection is None else nn.ModuleDict({
            m: HEADS.build(dict(projection), default_args=dict(in_dim=self._pooled_dim(m)))
            for m in self.modalities})
        self._check_contrastive_widths()

    # ------------------------------------------------------------------ building

    def _build_encoders(self, cfgs: Mapping[str, ConfigOrModule], tokenizer: dict,
                        share_text_table: bool) -> nn.ModuleDict:
        token_defaults = {'vocab_size': tokenizer.get('vocab_size'), 'pad_token_id': tokenizer.get('pad_id')}
        token_defaults = {k: v for k, v in token_defaults.items() if v is not None}
        built: Dict[str, nn.Module] = {}
        order = sorted(cfgs, key=lambda m: m != 'text')   # text first: the table may share its backbone
        for m in order:
            defaults = dict(token_defaults)
            cfg = cfgs[m]
            if m == 'table' and share_text_table and 'text' in built and isinstance(cfg, dict) \
                    and 'backbone' not in cfg and 'pretrained' not in cfg:
                cls = config_class(cfg, ENCODERS)
                if not accepts(cls, 'backbone') or not hasattr(built['text'], 'backbone'):
                    raise TypeError(f'share_text_table=True needs a table encoder that accepts `backbone` '
                                    f'and a text encoder with `.backbone`; got {cfg.get("type")} and '
                                    f'{type(built["text"]).__name__} (set share_text_table=False)')
                defaults['backbone'] = built['text'].backbone
            built[m] = build(cfg, ENCODERS, f'encoders[{m!r}]', defaults)
        return nn.ModuleDict({m: built[m] for m in cfgs})

    def _build_heads(self) -> nn.ModuleDict:
        heads, cache, masking = {}, {}, {}
        dim = getattr(self.fusion, 'dim', None)
        if dim is None and self.masked_losses():
            raise AttributeError(f'{type(self.fusion).__name__} has no `dim` (its token width), which the '
                                 f'masked-modelling heads need')
        for name, loss in self.losses.items():
            if not isinstance(loss, BaseMaskedLoss):
                continue
            if loss.modality not in self.encoders:
                raise KeyError(f'loss {name!r} is for modality {loss.modality!r}, which has no encoder '
                               f'(encoders: {self.modalities})')
            if loss.modality in masking:
                raise ValueError(f'losses {masking[loss.modality]!r} and {name!r} both mask '
                                 f'{loss.modality!r}; keep one masked task per modality')
            masking[loss.modality] = name
            heads[name] = loss.build_head(dim=int(dim), encoder=self.encoders[loss.modality], built=cache)
        return nn.ModuleDict(heads)

    def _pooled_dim(self, m: str) -> int:
        encoder = self.encoders[m]
        width = getattr(encoder, 'out_dim', None)
        if width is None:
            raise AttributeError(f'{type(encoder).__name__} ({m}) has no `out_dim` (width of pooled)')
        return int(width)

    def _check_contrastive_widths(self) -> None:
        if not self.contrastive_losses():
            return
        if self.projections is not None:
            widths = {m: int(getattr(self.projections[m], 'out_dim', 0) or 0) for m in self.modalities}
            widths = {m: w for m, w in widths.items() if w}
        else:
            widths = {m: self._pooled_dim(m) for m in self.modalities if hasattr(self.encoders[m], 'out_dim')}
        if len(set(widths.values())) > 1:
            raise ValueError(f'contrastive losses need pooled embeddings of one width, got {widths}; set the '
                             f'encoders\' pooled_dim or a `projection` head config')

    @property
    def pretrained_prefixes(self) -> List[str]:
        """Parameter-name prefixes of pretrained weights (from the encoders' ``pretrained_prefixes``),
        for an optimizer that gives them a lower learning rate."""
        return [f'encoders.{m}.{prefix}' for m, encoder in self.encoders.items()
                for prefix in getattr(encoder, 'pretrained_prefixes', [])]

    def contrastive_losses(self) -> Dict[str, nn.Module]:
        """The losses computed on pooled embeddings (every loss neither masked nor fusion-level)."""
        return {n: loss for n, loss in self.losses.items()
                if not isinstance(loss, (BaseMaskedLoss, BaseFusionLoss))}

    def fusion_losses(self) -> Dict[str, BaseFusionLoss]:
        """The fusion-level losses (e.g. matching)."""
        return {n: loss for n, loss in self.losses.items() if isinstance(loss, BaseFusionLoss)}

    def masked_losses(self) -> Dict[str, BaseMaskedLoss]:
        """The masked-modelling losses."""
        return {n: loss for n, loss in self.losses.items() if isinstance(loss, BaseMaskedLoss)}

    # ------------------------------------------------------------------ running

    def _inputs(self, batch: Mapping[str, Any]) -> Dict[str, Dict[str, Tensor]]:
        return select_modalities(batch, self.modalities, type(self).__name__)

    def encode(self, inputs: Mapping[str, Mapping[str, Tensor]],
               mask_ratios: Optional[Mapping[str, float]] = None) -> Dict[str, EncoderOutput]:
        """Run every encoder -> {m: EncoderOutput}."""
        mask_ratios = mask_ratios or {}
        return {m: self.encoders[m](inputs[m], mask_ratio=mask_ratios.get(m, 0.0)) for m in self.modalities}

    def embeddings(self, encoded: Mapping[str, EncoderOutput]) -> Dict[str, Tensor]:
        """{m: (B, D)} pooled vectors, through the projection heads when configured."""
        if self.projections is None:
            return {m: encoded[m].pooled for m in self.modalities}
        return {m: self.projections[m](encoded[m].pooled) for m in self.modalities}

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Tensor]:
        """batch (docs/concepts.md layout) -> named losses, metrics and ``weight_{m}`` importances."""
        inputs = self._inputs(batch)
        masked_inputs, labels, ratios = dict(inputs), {}, {}
        for name, loss in self.masked_losses().items():
            masked_inputs[loss.modality], labels[name] = loss.mask_inputs(inputs[loss.modality])
            ratios[loss.modality] = loss.encoder_mask_ratio
        encoded = self.encode(masked_inputs, ratios)
        present = {m: encoded[m].present for m in self.modalities}
        out: Dict[str, Tensor] = {}
        if self.contrastive_losses():
            source = self.encode(inputs) if self.contrastive_on_unmasked else encoded
            self._update(out, self._contrastive(self.embeddings(source), present))
        fused = self.fusion(encoded) if self.masked_losses() or self.fusion_losses() else None
        if self.masked_losses():
            self._update(out, self._masked(fused, encoded, present, labels))
        for loss in self.fusion_losses().values():
            self._update(out, loss(encoded=encoded, fusion=self.fusion, fused_output=fused))
        self._tie_unused_parts(out, encoded, fused)
        return out

    def _tie_unused_parts(self, out: Dict[str, Tensor], encoded: Dict[str, EncoderOutput],
                          fused: Optional[FusionOutput] = None) -> None:
        """Add 0 x the outputs no loss may read (the pooled vectors without a contrastive loss, every
        fusion output, after running the fusion if no loss did) to the first loss, so DDP/DeepSpeed
        see every parameter used (e.g. a stream of a multi-stream fusion whose tokens no loss reads)."""
        parts = []
        if not self.contrastive_losses():
            parts += [e.sum() for e in self.embeddings(encoded).values()]
        if fused is None:
            fused = self.fusion(encoded)
        parts += [fused.joint.sum()] + [t.sum() for t in fused.tokens.values()]
        key = next(k for k in out if k.startswith('loss'))
        out[key] = out[key] + 0.0 * sum(part.float() for part in parts)

    def _contrastive(self, embeddings: Dict[str, Tensor], present: Dict[str, Tensor]) -> Dict[str, Tensor]:
        weights = None
        out: Dict[str, Tensor] = {}
        if self.harmonizer is not None:
            weights = self.harmonizer(embeddings, present)
            out.update({f'weight_{m}': v for m, v in self.harmonizer.last_importance_tensors().items()})
        for loss in self.contrastive_losses().values():
            self._update(out, loss(embeddings, present, weights))
        return out

    def _masked(self, fused: FusionOutput, encoded: Dict[str, EncoderOutput], present: Dict[str, Tensor],
                labels: Dict[str, Optional[Tensor]]) -> Dict[str, Tensor]:
        weights, out = None, {}
        if self.harmonizer is not None:
            weights = self.harmonizer({m: fused.fused[m] for m in self.modalities}, present)
            if not self.contrastive_losses():   # else ``weight_{m}`` comes from the pooled embeddings
                out.update({f'weight_{m}': v for m, v in self.harmonizer.last_importance_tensors().items()})
        for name, loss in self.masked_losses().items():
            k = self.modalities.index(loss.modality)
            weight = None if weights is None else weights[:, k, k]
            if weight is not None:
                has = present[loss.modality].float()
                out[f'mask_weight_{loss.modality}'] = (weight.detach() * has).sum() / has.sum().clamp_min(1.0)
            self._update(out, loss(tokens=fused.tokens[loss.modality], encoded=encoded[loss.modality],
                                   head=self.heads[name], labels=labels.get(name), weight=weight))
        return out

    @staticmethod
    def _update(out: Dict[str, Tensor], new: Mapping[str, Tensor]) -> None:
        clash = sorted(set(out) & set(new))
        if clash:
            raise KeyError(f'two losses return the same output keys {clash}; give them different names')
        out.update(new)

    @torch.no_grad()
    def extract_features(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """Unmasked features: ``joint`` (B, D), ``fused`` {m: (B, D)}, ``pooled`` {m: (B, D)}, ``present``."""
        encoded = self.encode(self._inputs(batch))
        fused = self.fusion(encoded)
        return {'joint': fused.joint, 'fused': dict(fused.fused), 'pooled': self.embeddings(encoded),
                'present': {m: encoded[m].present for m in self.modalities}}
