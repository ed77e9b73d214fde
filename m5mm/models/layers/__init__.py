from .token_packing import PackedLayout
from .transformer import (FeedForward, MultiHeadAttention, TransformerBlock, TransformerEncoder, attention_mask,
                          safe_key_mask)

__all__ = ['FeedForward', 'MultiHeadAttention', 'PackedLayout', 'TransformerBlock', 'TransformerEncoder',
           'attention_mask', 'safe_key_mask']
