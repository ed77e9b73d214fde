"""Pre-LN transformer blocks on ``scaled_dot_product_attention`` with key-padding masks.

Masks are boolean with True for tokens that take part (the opposite of PyTorch's
``key_padding_mask``). A row whose keys are all masked (an absent modality) attends to its
first key instead of producing NaN; callers mask such rows out of their outputs.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .token_packing import PackedLayout


def safe_key_mask(mask: Tensor) -> Tensor:
    """(B, N) bool -> same, with key 0 enabled in rows that have no valid key."""
    empty = ~mask.any(dim=1)
    if not empty.any():
        return mask
    mask = mask.clone()
    mask[empty, 0] = True
    return mask


def attention_mask(key_mask: Optional[Tensor]) -> Optional[Tensor]:
    """(B, M) bool key mask -> the (B, 1, 1, M) mask ``scaled_dot_product_attention`` takes (rows
    without a valid key attend to key 0), or None when every key is valid (SDPA's unmasked
    kernels: flash attention). A (B, 1, 1, M) mask is returned as it is. Build it once per stack of
    layers (:class:`TransformerEncoder` does), not once per layer."""
    if key_mask is None or key_mask.dim() == 4:
        return key_mask
    if bool(key_mask.all()):
        return None
    return rearrange(safe_key_mask(key_mask), 'b m -> b 1 1 m')


class MultiHeadAttention(nn.Module):
    """Multi-head attention of ``query`` tokens over ``context`` tokens (self-attention if None)."""

    def __init__(self, *, dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} must be divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.dropout = dropout
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Optional[Tensor] = None, key_mask: Optional[Tensor] = None) -> Tensor:
        """x: (B, N, D); context: (B, M, D) or None; key_mask: (B, M) bool, or
        :func:`attention_mask` of one -> (B, N, D)."""
        context = x if context is None else context
        q = rearrange(self.to_q(x), 'b n (h d) -> b h n d', h=self.num_heads)
        k, v = rearrange(self.to_kv(context), 'b m (two h d) -> two b h m d', two=2, h=self.num_heads)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask(key_mask),
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.proj(rearrange(out, 'b h n d -> b n (h d)'))

    def forward_packed(self, x: Tensor, layout: PackedLayout) -> Tensor:
        """Self-attention of packed tokens x: (T, D) (:class:`PackedLayout`) -> (T, D); each sample's
        tokens attend to that sample's tokens only."""
        qkv = torch.cat([self.to_q(x), self.to_kv(x)], dim=-1)                     # (T, 3D)
        q, k, v = rearrange(layout.to_compact(qkv), 'b n (three h d) -> three b h n d', three=3, h=self.num_heads)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=layout.attn_mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.proj(layout.from_compact(rearrange(out, 'b h n d -> b n (h d)')))


class FeedForward(nn.Sequential):
    """Linear -> GELU -> dropout -> Linear."""

    def __init__(self, *, dim: int, hidden_dim: int, dropout: float = 0.0) -> None:
        super().__init__(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, dim))


class TransformerBlock(nn.Module):
    """Pre-LN block: self-attention, optional cross-attention, feed-forward.

    With ``grad_checkpointing`` set (see :func:`m5mm.models.activation_checkpointing.set_grad_checkpointing`) a
    training forward that records gradients keeps only the block's inputs and recomputes its
    activations in the backward pass (``torch.utils.checkpoint``, non-reentrant; the RNG state is
    restored for the recomputation, so dropout draws the same masks).
    """

    #: recompute the activations in the backward pass instead of storing them
    grad_checkpointing: bool = False

    def __init__(self, *, dim: int, num_heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 cross_attention: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim=dim, num_heads=num_heads, dropout=dropout)
        self.cross_norm = nn.LayerNorm(dim) if cross_attention else None
        self.cross_attn = MultiHeadAttention(dim=dim, num_heads=num_heads, dropout=dropout) \
            if cross_attention else None
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim=dim, hidden_dim=int(dim * mlp_ratio), dropout=dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None, context: Optional[Tensor] = None,
                context_mask: Optional[Tensor] = None) -> Tensor:
        """x: (B, N, D), mask: (B, N); context: (B, M, D), context_mask: (B, M) -> (B, N, D)."""
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(self._block, x, mask, context, context_mask, use_reentrant=False)
        return self._block(x, mask, context, context_mask)

    def _block(self, x: Tensor, mask: Optional[Tensor], context: Optional[Tensor],
               context_mask: Optional[Tensor]) -> Tensor:
        """The block's computation (see :meth:`forward`)."""
        x = x + self.drop(self.attn(self.norm1(x), key_mask=mask))
        if self.cross_attn is not None and context is not None:
            x = x + self.drop(self.cross_attn(self.cross_norm(x), context=context, key_mask=context_mask))
        return x + self.drop(self.mlp(self.norm2(x)))

    def forward_packed(self, x: Tensor, layout: PackedLayout) -> Tensor:
        """The block on packed tokens x: (T, D) (self-attention only) -> (T, D)."""
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(self._block_packed, x, layout, use_reentrant=False)
        return self._block_packed(x, layout)

    def _block_packed(self, x: Tensor, layout: PackedLayout) -> Tensor:
        """See :meth:`forward_packed`."""
        x = x + self.drop(self.attn.forward_packed(self.norm1(x), layout))
        return x + self.drop(self.mlp(self.norm2(x)))


class TransformerEncoder(nn.Module):
    """A stack of :class:`TransformerBlock` followed by a final LayerNorm.

    With ``pack_tokens`` set (see :func:`m5mm.models.layers.token_packing.set_token_packing`), a self-attention
    stack given a (B, N) mask with invalid tokens computes the valid tokens only
    (:mod:`~m5mm.models.layers.token_packing`): outputs at valid positions equal the padded
    stack's within floating-point tolerance; invalid positions (padding, absent samples) are 0
    instead of the padded stack's unused values.
    """

    #: compute only the valid tokens of a masked self-attention batch
    pack_tokens: bool = False

    def __init__(self, *, dim: int, depth: int, num_heads: int, mlp_ratio: float = 4.0,
                 dropout: float = 0.0, cross_attention: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TransformerBlock(dim=dim, num_heads=num_heads, mlp_ratio=mlp_ratio, dropout=dropout,
                             cross_attention=cross_attention) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None, context: Optional[Tensor] = None,
                context_mask: Optional[Tensor] = None) -> Tensor:
        """x: (B, N, D), mask: (B, N) bool -> (B, N, D)."""
        if self.pack_tokens and context is None and mask is not None and mask.dim() == 2 and not bool(mask.all()):
            return self._forward_packed(x, PackedLayout.from_mask(mask))
        mask, context_mask = attention_mask(mask), attention_mask(context_mask)   # once, not per layer
        for block in self.blocks:
            x = block(x, mask, context, context_mask)
        return self.norm(x)

    def _forward_packed(self, x: Tensor, layout: PackedLayout) -> Tensor:
        """The stack on the valid tokens of ``layout`` -> (B, N, D), 0 at invalid positions."""
        packed = layout.pack(x)
        if not layout.num_tokens:
            # nothing valid (a modality absent from the whole batch): one token through the blocks,
            # times 0, so every parameter still gets a (zero) gradient as in the padded stack (DDP)
            dummy = x[:1, :1]
            for block in self.blocks:
                dummy = block(dummy)
            return layout.unpack(self.norm(packed)) + 0.0 * self.norm(dummy).sum()
        for block in self.blocks:
            packed = block.forward_packed(packed, layout)
        return layout.unpack(self.norm(packed))
