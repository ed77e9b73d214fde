"""Token packing: a transformer stack computes only the valid tokens of its batch.

A padded stack runs every position of a (B, N, D) batch: padding, and every token of a sample
whose modality is absent (masked, but computed). A packed stack gathers the valid tokens into one
(T, D) matrix for the position-wise parts (projections, feed-forward, LayerNorms: most of the
FLOPs) and, for attention, scatters each sample's tokens to the front of a row of a compact
(B', L, ...) batch: B' the samples with a valid token, L the longest sample's valid count.
Attention then runs with scaled_dot_product_attention on that batch (without a mask when every
kept sample has L tokens). Outputs at valid positions equal the padded stack's (one sample's
tokens attend to the same keys in both); invalid positions come out 0.

Why this layout (the candidates are timed by ``benchmarks/packed_attention.py``): a block-diagonal
mask over one packed (1, T) sequence does attention on T^2 pairs instead of sum n_b^2 (with 32
samples about 32x the work, most of it masked); FlexAttention has no backward on the CPU in torch
2.14 (``NotImplementedError``) and needs ``torch.compile`` to be fast, while packing's shapes change
every batch; nested (jagged) tensors run, but are a prototype API and did not beat the compact batch
in our (loaded, noisy) runs. The compact batch keeps SDPA's fused kernels (no mask at all when the
kept samples have equal lengths, e.g. an image tower with absent samples) and its cost follows what
the samples have.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn


@dataclass
class PackedLayout:
    """Where the valid tokens of a (B, N) mask go.

    Attributes:
        valid: (B*N,) long, flat indices of the valid tokens in (B, N) (row-major), T of them.
        slots: (T,) long, each valid token's flat index in the compact (B', L) batch.
        rows: B', samples with at least one valid token.
        length: L, the most valid tokens of a sample.
        attn_mask: (B', 1, 1, L) bool key mask of the compact batch, None when every kept
            sample has L tokens.
        shape: (B, N) of the padded batch.
    """

    valid: Tensor
    slots: Tensor
    rows: int
    length: int
    attn_mask: Optional[Tensor]
    shape: tuple

    @classmethod
    def from_mask(cls, mask: Tensor) -> 'PackedLayout':
        """The layout of a (B, N) bool mask (True: valid token)."""
        mask = mask.bool()
        counts = mask.sum(dim=1)                                    # (B,)
        kept = counts > 0
        lengths = counts[kept]
        rows = int(lengths.numel())
        length = int(lengths.max()) if rows else 0
        row_of = torch.cumsum(kept.long(), dim=0) - 1               # compact row of each kept sample
        place = torch.cumsum(mask.long(), dim=1) - 1                # position of a valid token in its row
        slots_2d = row_of[:, None] * length + place
        flat = mask.reshape(-1)
        valid = flat.nonzero().squeeze(1)
        slots = slots_2d.reshape(-1)[valid]
        attn_mask = None
        if rows and bool((lengths < length).any()):
            attn_mask = (torch.arange(length, device=mask.device)[None, :] < lengths[:, None])[:, None, None, :]
        return cls(valid=valid, slots=slots, rows=rows, length=length, attn_mask=attn_mask,
                   shape=tuple(mask.shape))

    @property
    def num_tokens(self) -> int:
        """T, the valid tokens."""
        return int(self.valid.numel())

    def pack(self, x: Tensor) -> Tensor:
        """(B, N, ...) -> (T, ...): the valid tokens."""
        return x.reshape(-1, *x.shape[2:]).index_select(0, self.valid)

    def unpack(self, packed: Tensor) -> Tensor:
        """(T, ...) -> (B, N, ...), zeros at invalid positions."""
        batch, num = self.shape
        out = packed.new_zeros(batch * num, *packed.shape[1:]).index_copy(0, self.valid, packed)
        return out.reshape(batch, num, *packed.shape[1:])

    def to_compact(self, packed: Tensor) -> Tensor:
        """(T, ...) -> (B', L, ...), zeros after each sample's tokens."""
        out = packed.new_zeros(self.rows * self.length, *packed.shape[1:]).index_copy(0, self.slots, packed)
        return out.reshape(self.rows, self.length, *packed.shape[1:])

    def from_compact(self, compact: Tensor) -> Tensor:
        """(B', L, ...) -> (T, ...)."""
        return compact.reshape(-1, *compact.shape[2:]).index_select(0, self.slots)


def packable_modules(module: nn.Module) -> List[Tuple[str, nn.Module]]:
    """(name, module) of every part of ``module`` that can pack its tokens: the classes declaring a
    ``pack_tokens`` switch (m5mm's :class:`~m5mm.models.layers.TransformerEncoder` stacks, the BERT
    text and table towers; a plugin's encoder opts in by declaring it)."""
    return [(name, sub) for name, sub in module.named_modules()
            if isinstance(getattr(type(sub), 'pack_tokens', None), bool)]


def set_token_packing(module: nn.Module, enable: bool = True) -> List[str]:
    """Switch token packing of every packable part of ``module`` (:func:`packable_modules`): an m5mm
    transformer stack then computes only the valid tokens of its batch, a BERT tower runs only the
    samples that have its modality, cut after their last real token (no work on padding and absent
    samples). Loose blocks are left as they are.

    Returns:
        The names (relative to ``module``) of the parts switched.
    """
    switched = []
    for name, sub in packable_modules(module):
        sub.pack_tokens = bool(enable)
        switched.append(name)
    return switched
