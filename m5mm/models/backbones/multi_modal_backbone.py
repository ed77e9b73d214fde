"""Encoders + fusion + projections + harmonizer: the backbone every multi-modal model is built on."""
from __future__ import annotations

import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import torch
from torch import Tensor, nn

from m5mm.models.builders import build
from m5mm.registry import FUSIONS, HARMONIZERS, HEADS, MODELS, NECKS
from m5mm.structures import EncoderOutput, FusionOutput, HarmonizerOutput, select_modalities
from .forward_context import ForwardContext
from .modality_dropout import drop_modalities
from .parts import build_encoders, projection_configs, resolve_modalities

#: the 0.2 ``joint=`` values and the neck each one is now (see :func:`neck_config`)
JOINT_SOURCES = {'fusion': 'FusionJointNeck', 'importance': 'ImportanceJointNeck', 'centred': 'CentredJointNeck'}
DEFAULT_NECK = dict(type='FusionJointNeck')

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
        projection_overrides: {modality: keys of ``projection`` to change for that modality's head},
            e.g. ``dict(image=dict(residual_scale=0.1))``; modalities the model leaves out are ignored,
            a name no encoder has is an error.
        modalities: keep only these of the configured encoders (order: ``encoders``').
        share_text_table: build the table encoder on the text encoder's model.
        data_meta: the dataset's ``meta`` (``tokenizer`` with ``vocab_size``, ``pad_id``, ...).
        modality_dropout: in training mode, mark each present modality of each sample absent with
            this probability, keeping at least one per sample (:func:`drop_modalities`); 0 = off.
            Never applied in eval mode (feature extraction, evaluation).
        neck: how ``joint`` is formed (``NECKS``; default ``FusionJointNeck``, the fusion's ``joint``,
            L2-normalised): a config (gets ``modalities`` and ``dim``, the fusion width) or a built neck.
        joint, normalize_joint: deprecated (m5mm 0.2): ``joint='fusion' | 'importance' | 'centred'`` and
            ``normalize_joint`` are ``neck=dict(type='FusionJointNeck' | 'ImportanceJointNeck' |
            'CentredJointNeck', normalize=...)`` (see :func:`neck_config`).

    Attributes:
        modalities: the modalities, in order (fusion sequence and harmonizer order).
        encoder_sharing: {modality: modality whose encoder model it runs on}.
    """

    def __init__(self, *, encoders: Mapping[str, ConfigOrModule], fusion: ConfigOrModule,
                 harmonizer: Optional[ConfigOrModule] = None, projection: Optional[dict] = None,
                 projection_overrides: Optional[Mapping[str, dict]] = None,
                 modalities: Optional[Sequence[str]] = None, share_text_table: bool = True,
                 data_meta: Optional[dict] = None, modality_dropout: float = 0.0,
                 neck: Optional[Any] = None, joint: Optional[str] = None,
                 normalize_joint: Optional[bool] = None) -> None:
        super().__init__()
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError(f'modality_dropout must be in [0, 1), got {modality_dropout}')
        neck = neck_config(neck, joint, normalize_joint)
        self.modality_dropout = float(modality_dropout)
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
            m: HEADS.build(cfg, default_args=dict(in_dim=self._pooled_dim(m)))
            for m, cfg in projection_configs(projection, projection_overrides, self.modalities, encoders).items()})
        self.neck = neck if isinstance(neck, nn.Module) else NECKS.build(neck, default_args=dict(
            modalities=self.modalities, dim=getattr(self.fusion, 'dim', None)))
        if getattr(self.neck, 'requires_harmonizer', False) and self.harmonizer is None:
            raise ValueError(f'{type(self.neck).__name__} weighs the fused vectors by the harmonizer\'s importances; '
                             f'configure a harmonizer')
        self._register_load_state_dict_pre_hook(_move_centre_into_neck, with_module=True)

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
        """``joint`` (B, D) (the :attr:`neck`'s), ``fused`` {m: (B, D)}, ``pooled`` {m: (B, D)} and
        ``present`` {m: (B,)}."""
        joint = self.neck(ctx)
        return {'joint': joint, 'fused': dict(ctx.fused.fused), 'pooled': ctx.embeddings, 'present': ctx.present}

    @torch.no_grad()
    def extract_features(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """Unmasked :meth:`features` of ``batch``."""
        return self.features(self.context(batch))

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """The unmasked :meth:`features` of ``batch`` (with gradients)."""
        return self.features(self.context(batch))

    def update_running_stats(self, ctx: ForwardContext) -> None:
        """Update the running statistics of a training step (the :attr:`neck`'s, e.g. the running centre of
        ``CentredJointNeck``)."""
        self.neck.update(ctx)

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


def neck_config(neck: Optional[Any], joint: Optional[str], normalize_joint: Optional[bool]) -> Any:
    """The neck config (or module) of a backbone's arguments: ``neck``, or the one the deprecated 0.2
    arguments ``joint`` / ``normalize_joint`` stand for (with a ``FutureWarning``), or the default."""
    if joint is None and normalize_joint is None:
        return DEFAULT_NECK if neck is None else neck
    if neck is not None:
        raise ValueError('give the joint neck as `neck=dict(type=..., normalize=...)` only; `joint` and '
                         '`normalize_joint` are its deprecated 0.2 spelling')
    if joint is not None and joint not in JOINT_SOURCES:
        raise ValueError(f'joint must be one of {tuple(JOINT_SOURCES)}, got {joint!r}')
    cfg = dict(type=JOINT_SOURCES[joint or 'fusion'])
    if normalize_joint is not None:
        cfg['normalize'] = bool(normalize_joint)
    warnings.warn(f'joint={joint!r} / normalize_joint={normalize_joint!r} are deprecated since m5mm 0.3: use '
                  f'neck={cfg!r}', FutureWarning, stacklevel=3)
    return cfg


def _move_centre_into_neck(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load-state-dict pre-hook: a 0.2 checkpoint's running centre ``centre.*`` is ``neck.centre.*`` (dropped
    when the neck keeps none, e.g. a classifier's backbone, which never read it)."""
    old = [k for k in state_dict if k.startswith(prefix + 'centre.')]
    keep = hasattr(module.neck, 'centre')
    for key in old:
        value = state_dict.pop(key)
        if keep:
            state_dict[prefix + 'neck.' + key[len(prefix):]] = value
