from .transformer import (FeedForward, MultiHeadAttention, TransformerBlock, TransformerEncoder,
                          safe_key_mask)

__all__ = ['FeedForward', 'MultiHeadAttention', 'TransformerBlock', 'TransformerEncoder', 'safe_key_mask']
