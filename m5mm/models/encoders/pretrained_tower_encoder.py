"""Base of the image, video and audio towers built on a pretrained backbone.

A tower = a pretrained backbone (frozen, partly trained, LoRA-tuned or fully trained) that
turns the modality's raw input into tokens (B, N, H), followed by the trainable part of a
:class:`FeatureEncoder` (Linear + LayerNorm to D, mask embedding, global token, positions,
transformer, pooled projection). The same tower reads either the raw input (and runs the
backbone) or ``feats`` (B, N, H), the backbone's tokens cached by ``tools/cache_features.py``:
the trainable part is identical, so cached-feature training computes what live training does.
"""
from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from m5mm.models.pretrained.tower_weights import PretrainedWeightsMixin, source_info
from m5mm.models.pretrained.tuning import freeze_unused
from m5mm.structures import EncoderOutput

from .encoder_utils import EncoderInputError, fetch_mask, fetch_present, masked_mean
from .feature_encoder import FeatureEncoder

Inputs = Mapping[str, Tensor]
#: what a tower's ``pooled`` vector is (see :class:`PretrainedTowerEncoder`)
POOLED_SOURCES = ('tokens', 'backbone')


class PretrainedTowerEncoder(PretrainedWeightsMixin, FeatureEncoder):
    """Pretrained backbone -> tokens (B, N, H) -> the trainable :class:`FeatureEncoder` part.

    Subclasses define :attr:`modality`, :attr:`raw_key` and :meth:`load_backbone`,
    :meth:`backbone_tokens`, :meth:`dummy_inputs`. The backbone runs on present samples only
    (absent ones get zero tokens, masked), except that a trainable backbone runs on at least
    one sample so that every trainable parameter is used in every step.

    The masked-modelling target of a token is its backbone token (the paper's recipe on
    pre-extracted features); with a trainable backbone it is the backbone's detached output.

    Args:
        pretrained: folder or hub id of the model.
        freeze: the backbone never trains (eval mode, ``torch.no_grad``).
        trainable_layers: train only the backbone's last N blocks (and what follows them).
        lora: LoRA adapters, ``dict(r=8, alpha=16, dropout=0.0, target_modules=None)``.
        token_pool: average each run of this many consecutive real tokens into one (after the
            backbone, before caching): e.g. 8 turns wav2vec2's 50 tokens per second into 6.25.
        max_tokens: tokens the position table holds (None: what the backbone can produce).
        dim, depth, num_heads, mlp_ratio, dropout, pooled_proj, pooled_dim: the trainable part
            (see :class:`FeatureEncoder`); ``depth=0`` leaves only its final LayerNorm.
        pooled_source: what ``pooled`` (the vector the projection head maps into the contrastive space) is:
            ``'tokens'`` the trainable part's global token (through ``pooled_proj``), or ``'backbone'`` the
            mean of the backbone's own tokens (width H: the tower's pooled feature, what the frozen-concat
            baseline uses), so that a structure-keeping head (``ResidualProjectionHead``) starts from what
            the tower knows; the tokens still go through the trainable part to the fusion.
    """

    modality: ClassVar[str] = ''
    raw_key: ClassVar[str] = ''

    #: the data facts the builder passes (see m5mm.models.builders.needed_facts)
    needs = ()

    def __init__(self, *, pretrained: str, freeze: bool = False, trainable_layers: Optional[int] = None,
                 lora: Optional[dict] = None, token_pool: int = 1, max_tokens: Optional[int] = None,
                 dim: int = 768, depth: int = 1,
                 num_heads: int = 12, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 pooled_proj: str = 'identity', pooled_dim: Optional[int] = None,
                 pooled_source: str = 'tokens') -> None:
        if token_pool < 1:
            raise ValueError(f'token_pool must be >= 1, got {token_pool}')
        if pooled_source not in POOLED_SOURCES:
            raise ValueError(f'pooled_source must be one of {POOLED_SOURCES}, got {pooled_source!r}')
        if pooled_source == 'backbone' and (pooled_proj != 'identity' or pooled_dim is not None):
            raise ValueError("pooled_source='backbone' passes the backbone's mean token on as is; it takes no "
                             f"pooled_proj / pooled_dim (got {pooled_proj!r}, {pooled_dim!r})")
        backbone = self.load_backbone(pretrained)
        backbone.eval()
        with torch.no_grad():
            probe, _ = self.backbone_tokens(backbone, self.dummy_inputs(backbone))
        max_tokens = max_tokens or -(-self.default_max_tokens(backbone, probe) // token_pool)
        super().__init__(feat_dim=int(probe.shape[-1]), max_tokens=max_tokens,
                         dim=dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                         pooled_proj=pooled_proj, pooled_dim=pooled_dim)
        self.pretrained = pretrained
        self.token_pool = token_pool
        self.pooled_source = pooled_source
        if pooled_source == 'backbone':
            self.out_dim = self.feat_dim
        self.backbone = backbone
        self.backbone._m5mm_source = source_info(pretrained)
        self.setup_tuning(freeze=freeze, trainable_layers=trainable_layers, lora=lora)
        if not self.frozen:
            freeze_unused(self.backbone, lambda: self.backbone_tokens(self.backbone, self.dummy_inputs(
                self.backbone))[0], f'{type(self).__name__}({pretrained!r})')

    # ------------------------------------------------------------ subclass API
    def load_backbone(self, pretrained: str) -> nn.Module:
        """The pretrained model (checked to serve :attr:`modality`)."""
        raise NotImplementedError

    def backbone_tokens(self, backbone: nn.Module, inputs: Inputs) -> Tuple[Tensor, Tensor]:
        """A raw modality entry (every sample present) -> tokens (b, N, H), token mask (b, N) bool."""
        raise NotImplementedError

    def dummy_inputs(self, backbone: nn.Module) -> Dict[str, Tensor]:
        """A small raw entry of one sample, to probe the backbone's output width."""
        raise NotImplementedError

    def default_max_tokens(self, backbone: nn.Module, probe: Tensor) -> int:
        """Tokens the position table holds by default (the probe's count)."""
        return int(probe.shape[1])

    # ------------------------------------------------------------ running
    @property
    def backbone_dtype(self) -> torch.dtype:
        """The backbone's parameter dtype (DeepSpeed bf16 casts the model; inputs follow)."""
        return next(self.backbone.parameters()).dtype

    def has_trainable_backbone(self) -> bool:
        """Whether any backbone parameter trains."""
        return any(p.requires_grad for p in self.backbone.parameters())

    def backbone_features(self, inputs: Inputs) -> Tuple[Tensor, Tensor, Tensor]:
        """Raw entry -> ``feats`` (B, N, H), ``feat_mask`` (B, N), ``present`` (B,).

        Each sample's real tokens come first, in order (a model whose real tokens are not a prefix,
        such as AST's patch grid of a short clip, is compacted), followed by zero padding; N is the
        most real tokens of a sample. So a sample's first ``feat_mask.sum()`` tokens are exactly what
        ``tools/cache_features.py`` stores, and cached batches collate to the same tensors.
        """
        name = type(self).__name__
        if self.raw_key not in inputs:
            raise EncoderInputError(f'{name} needs inputs[{self.raw_key!r}] (raw {self.modality}) or inputs["feats"] '
                                    f'(cached backbone tokens); the entry has keys {sorted(inputs)}')
        batch = inputs[self.raw_key].shape[0]
        present = fetch_present(inputs, batch, name)
        keep = present.nonzero().flatten()
        if keep.numel() == 0 and self.has_trainable_backbone():
            keep = torch.zeros(1, dtype=torch.long, device=present.device)  # every trainable parameter is used
        rows = {k: v[keep] for k, v in inputs.items() if isinstance(v, Tensor) and v.dim() and v.shape[0] == batch}
        rows['present'] = torch.ones(len(keep), dtype=torch.bool, device=present.device)
        if len(keep) == 0:
            return self._empty(batch, present)
        with self.backbone_context():
            tokens, token_mask = self.backbone_tokens(self.backbone, rows)
        tokens, token_mask = pool_tokens(*_compact(tokens.to(self.dtype), token_mask.bool()), self.token_pool)
        feats = tokens.new_zeros(batch, *tokens.shape[1:]).index_copy(0, keep, tokens)
        feat_mask = token_mask.new_zeros(batch, token_mask.shape[1]).index_copy(0, keep, token_mask)
        return feats, feat_mask & present[:, None], present

    def _empty(self, batch: int, present: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        feats = torch.zeros(batch, 1, self.feat_dim, dtype=self.dtype, device=present.device)
        return feats, torch.zeros(batch, 1, dtype=torch.bool, device=present.device), present

    def forward(self, inputs: Inputs, mask_ratio: float = 0.0) -> EncoderOutput:
        """Raw inputs (see the subclass) or cached ``feats`` (B, N, H) + ``feat_mask`` -> 1 + N tokens."""
        if 'feats' in inputs and self.raw_key not in inputs:
            self._check_cached(inputs['feats'])
        else:
            feats, feat_mask, present = self.backbone_features(inputs)
            inputs = {'feats': feats, 'feat_mask': feat_mask, 'present': present}
        out = super().forward(inputs, mask_ratio)
        if self.pooled_source == 'tokens':
            return out
        feats = inputs['feats'].to(self.dtype)
        valid = fetch_mask(inputs, 'feat_mask', feats, type(self).__name__) & out.present.bool()[:, None]
        return replace(out, pooled=masked_mean(feats, valid))

    def _check_cached(self, feats: Tensor) -> None:
        name = f'{type(self).__name__}({self.pretrained!r})'
        if not self.frozen:
            raise EncoderInputError(f'{name} got cached features, but its backbone trains (not freeze=True), so '
                                    f'cached outputs would be stale; read the raw {self.modality} instead')
        if feats.dim() != 3 or feats.shape[-1] != self.feat_dim:
            raise EncoderInputError(f'{name}: cached features of shape {tuple(feats.shape)} do not come from this '
                                    f'model, whose tokens have width {self.feat_dim}; cache them again with '
                                    f'tools/cache_features.py for the configured model')


def _compact(tokens: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
    """tokens (b, N, H), mask (b, N) -> the real tokens of each row first (stable), zeros after, and
    the columns no row needs dropped (at least one kept)."""
    # a stable order by a unique key (padding after real tokens, position within each): the same order as a
    # stable sort, and one the ONNX exporter takes (it has no stable Sort)
    position = torch.arange(mask.shape[1], device=mask.device)
    order = torch.argsort((~mask).long() * mask.shape[1] + position, dim=1)
    tokens = torch.gather(tokens, 1, order[..., None].expand_as(tokens))
    mask = torch.gather(mask, 1, order)
    keep = max(int(mask.sum(dim=1).max()) if mask.numel() else 0, 1)
    tokens, mask = tokens[:, :keep], mask[:, :keep]
    return torch.where(mask[..., None], tokens, torch.zeros_like(tokens)), mask


def pool_tokens(tokens: Tensor, mask: Tensor, size: int) -> Tuple[Tensor, Tensor]:
    """Compacted tokens (b, N, H) + mask (b, N) -> the mean of each run of ``size`` tokens (b, ceil(N/size), H),
    over its real tokens; a run is real when any of its tokens is."""
    if size == 1:
        return tokens, mask
    pad = -tokens.shape[1] % size
    tokens = torch.nn.functional.pad(tokens, (0, 0, 0, pad))
    weights = torch.nn.functional.pad(mask, (0, pad)).to(tokens.dtype)
    sums = (tokens * weights[..., None]).unflatten(1, (-1, size)).sum(dim=2)
    counts = weights.unflatten(1, (-1, size)).sum(dim=2)
    return sums / counts.clamp(min=1)[..., None], counts > 0
