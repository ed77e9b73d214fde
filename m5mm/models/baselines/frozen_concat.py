"""Frozen concat: the product vector is the concatenation of frozen pretrained towers' pooled embeddings."""
from __future__ import annotations

from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m5mm.models.backbones.parts import build_encoders, resolve_modalities
from m5mm.models.builders import accepts, config_class
from m5mm.models.encoders.encoder_utils import masked_mean
from m5mm.models.encoders.pretrained_tower_encoder import PretrainedTowerEncoder
from m5mm.registry import ENCODERS, MODELS

#: arguments every tower gets unless its config sets them: the backbone frozen, and for an image / video tower
#: no transformer layers on top (its trainable part, unused here)
FROZEN_DEFAULTS = dict(freeze=True)
TOWER_DEFAULTS = dict(depth=0)


@MODELS.register_module()
class FrozenConcatModel(nn.Module):
    """The baseline a user tries first: no training, each frozen tower's L2-normalised pooled
    embedding, concatenated over ``modalities`` (in their order) as the product vector ``joint``.

    Pooling: the mean of the tower's real output tokens. For a text or table tower (a BERT model)
    that is the attention-masked mean of the last hidden states, the pooling of sentence-transformers'
    all-MiniLM-L6-v2; for an image CNN the global average of its feature map (EfficientNet's classifier
    input); for a video tower per frame the image model's pooled vector (``frame_pool``), averaged over
    the real frames. An absent modality contributes a zero block, so ``joint`` is (B, sum of widths)
    and not unit-norm (its squared norm is the number of present modalities). Every parameter is
    frozen; the model needs no checkpoint (``needs_weights = False``).

    Args:
        encoders: ``{modality: config}`` of pretrained towers (``PretrainedImageEncoder``,
            ``PretrainedVideoEncoder``, ``PretrainedTextEncoder``, ``PretrainedTableEncoder``);
            unset ``freeze`` / ``depth`` default to True / 0.
        modalities: use only these of ``encoders`` (None: all).
        share_text_table: the table tower runs the text tower's model (when its config names none).
        data_meta: the dataset's meta (tokenizer ids), given by the builder.
    """

    needs_weights: ClassVar[bool] = False

    def __init__(self, *, encoders: Mapping[str, Any], modalities: Optional[Sequence[str]] = None,
                 share_text_table: bool = True, data_meta: Optional[dict] = None) -> None:
        super().__init__()
        self.modalities = resolve_modalities(encoders, modalities)
        cfgs = {m: _frozen(encoders[m]) for m in self.modalities}
        tokenizer = (data_meta or {}).get('tokenizer') or {}
        self.encoders, self.sharing = build_encoders(cfgs, tokenizer, share_text_table,
                                                     inputs=(data_meta or {}).get('inputs'))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> 'FrozenConcatModel':
        """Always eval mode: nothing trains (dropout off)."""
        return super().train(False)

    def pooled(self, modality: str, inputs: Mapping[str, Tensor]) -> Tensor:
        """One modality's batch entry -> its tower's pooled vector (B, H), before normalisation."""
        encoder = self.encoders[modality]
        if isinstance(encoder, PretrainedTowerEncoder):
            if 'feats' in inputs and encoder.raw_key not in inputs:   # tools/cache_features.py's tokens
                encoder._check_cached(inputs['feats'])
                feats, mask = inputs['feats'], inputs['feat_mask'].bool()
            else:
                feats, mask, _ = encoder.backbone_features(inputs)
            return masked_mean(feats.float(), mask)
        out = encoder(inputs)
        return masked_mean(out.tokens.float(), out.mask.bool())

    @torch.no_grad()
    def extract_features(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """``joint`` (B, sum H), ``fused`` = ``pooled`` {m: (B, H_m)} (L2-normalised, zero when absent),
        ``present`` {m: (B,)}."""
        pooled, present = {}, {}
        for m in self.modalities:
            if m not in batch:
                raise KeyError(f'FrozenConcatModel: the batch has no {m!r} entry; it has {sorted(batch)}')
            present[m] = batch[m]['present'].bool()
            vector = F.normalize(self.pooled(m, batch[m]), dim=-1)
            pooled[m] = vector * present[m].unsqueeze(1).to(vector.dtype)
        joint = torch.cat([pooled[m] for m in self.modalities], dim=1)
        return {'joint': joint, 'fused': dict(pooled), 'pooled': pooled, 'present': present}

    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        """As :meth:`extract_features` (nothing to train)."""
        return self.extract_features(batch)


def _frozen(cfg: Any) -> Any:
    """``cfg`` with :data:`FROZEN_DEFAULTS` where its class takes them and it sets none (not for a tower that
    shares another's model: that one decides)."""
    if not isinstance(cfg, dict) or ('pretrained' not in cfg and 'backbone' not in cfg):
        return cfg
    cls = config_class(cfg, ENCODERS)
    defaults = {**FROZEN_DEFAULTS, **(TOWER_DEFAULTS if isinstance(cls, type) and issubclass(
        cls, PretrainedTowerEncoder) else {})}
    return {**{k: v for k, v in defaults.items() if accepts(cls, k)}, **cfg}
