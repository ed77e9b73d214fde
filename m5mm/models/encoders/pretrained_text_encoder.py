"""Title tower on a pretrained text encoder (BERT, RoBERTa, XLM-R, ...), frozen, partly trained or LoRA-tuned."""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from m5mm.models.pretrained.loading import load_transformers_backbone
from m5mm.models.pretrained.tower_weights import PretrainedWeightsMixin, source_info
from m5mm.registry import ENCODERS

from .text_bert_encoder import TextBertEncoder


def load_text_backbone(pretrained: str) -> nn.Module:
    """The text model of ``pretrained`` without its pooler, tagged with its source."""
    backbone = load_transformers_backbone(pretrained, modality='text', add_pooling_layer=False)
    if getattr(backbone, 'pooler', None) is not None:
        backbone.pooler = None  # unused: would leave parameters without gradients
    backbone._m5mm_source = source_info(pretrained)
    return backbone


@ENCODERS.register_module()
class PretrainedTextEncoder(PretrainedWeightsMixin, TextBertEncoder):
    """:class:`TextBertEncoder` on a pretrained model given by folder or hub id, with tuning modes.

    The dataset's tokenizer must be the model's own (``tokenizer=dict(path=<same folder or
    id>)``): its vocabulary size and special ids reach the encoder and the MLM head through
    ``data_meta['tokenizer']``. A multilingual model (XLM-R) tokenises Chinese titles.

    Args:
        pretrained: folder or hub id of a text encoder (BERT, RoBERTa, XLM-R, ...).
        backbone: a built backbone to share instead (another text tower's ``.backbone``; its
            tower decides how it trains).
        freeze, trainable_layers, lora: how the backbone trains (see
            :class:`~m5mm.models.encoders.PretrainedTowerEncoder`).
        vocab_size, pad_token_id, out_dim, pooled_proj, pooled_dim, pool: see :class:`TextBertEncoder`.
    """

    #: the data facts the builder passes (see m5mm.models.builders.needed_facts)
    needs = ('vocab_size', 'pad_token_id')

    def __init__(self, *, pretrained: Optional[str] = None, backbone: Optional[nn.Module] = None,
                 freeze: bool = False, trainable_layers: Optional[int] = None, lora: Optional[dict] = None,
                 vocab_size: Optional[int] = None, pad_token_id: int = 0, out_dim: Optional[int] = None,
                 pooled_proj: str = 'identity', pooled_dim: Optional[int] = None, pool: str = 'cls') -> None:
        if (pretrained is None) == (backbone is None):
            raise ValueError(f'{type(self).__name__} needs `pretrained` (a folder or hub id) or `backbone` (a model '
                             f'to share), exactly one')
        shared = backbone is not None
        super().__init__(vocab_size=vocab_size, pad_token_id=pad_token_id,
                         backbone=backbone if shared else load_text_backbone(pretrained), out_dim=out_dim,
                         pooled_proj=pooled_proj, pooled_dim=pooled_dim, pool=pool)
        self.pretrained = pretrained if not shared else getattr(self.source, 'source', None)
        self.setup_tuning(freeze=freeze, trainable_layers=trainable_layers, lora=lora, shared=shared)

    def run_backbone(self, **inputs: Tensor) -> Tensor:
        """As :meth:`TextBertEncoder.run_backbone`, under ``torch.no_grad`` when frozen."""
        with self.backbone_context():
            return super().run_backbone(**inputs)
