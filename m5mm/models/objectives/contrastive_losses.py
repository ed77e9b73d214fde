"""The row losses of the contrastive objectives as pure functions (logits, positives, masks -> loss).

With ``L`` the (B, N) logits of B query rows against N key columns (columns that are not valid
already set to the dtype's minimum) and ``P`` the (B, N) positives mask:

* :func:`info_nce_rows` (multi-positive InfoNCE, SupCon's ``L_out`` form)::

      loss_b = -1/|P_b| * sum_{p in P_b} log( exp(L_bp) / sum_{c valid} exp(L_bc) )

  with ``P_b = {b's own column}`` (a group of one) this is the cross-entropy of today's loss;
* :func:`sigmoid_rows` (SigLIP's pairwise sigmoid)::

      loss_b = -sum_{c valid} log sigmoid( y_bc * L_bc ),   y_bc = +1 if c in P_b else -1

  where ``L_bc = t * cos(q_b, k_c) + bias``.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def info_nce_rows(logits: Tensor, positives: Tensor) -> Tuple[Tensor, Tensor]:
    """Multi-positive InfoNCE per row.

    Args:
        logits: (B, N), invalid columns at the dtype's minimum.
        positives: (B, N) bool, at least one valid positive per row that counts.

    Returns:
        ``(loss (B,), hit (B,) bool)``: hit = the row's largest logit is a positive.
    """
    log_prob = F.log_softmax(logits, dim=-1)
    pos = positives.to(log_prob.dtype)
    loss = -(log_prob * pos).sum(dim=-1) / pos.sum(dim=-1).clamp_min(1.0)
    hit = positives.gather(1, logits.detach().argmax(dim=-1, keepdim=True)).squeeze(1)
    return loss, hit


def sigmoid_rows(logits: Tensor, positives: Tensor, valid: Tensor) -> Tensor:
    """SigLIP's pairwise sigmoid loss summed over each row's valid columns.

    Args:
        logits: (B, N) ``t * cos + bias``. positives: (B, N) bool. valid: (N,) bool columns.

    Returns:
        (B,) loss per row.
    """
    signs = positives.to(logits.dtype) * 2.0 - 1.0
    loss = -F.logsigmoid(signs * logits)
    return torch.where(valid[None, :], loss, torch.zeros_like(loss)).sum(dim=-1)


def group_positives(local_groups: Tensor, key_groups: Tensor) -> Tensor:
    """(B, N) bool: query b and key c share a group (codes made unique for unknowns beforehand)."""
    return local_groups[:, None] == key_groups[None, :]


def unique_unknown_codes(groups: Tensor, first_index: int = 0) -> Tensor:
    """Group codes where every unknown (< 0) code becomes a group of one: ``-1 - global index``."""
    index = torch.arange(first_index, first_index + groups.shape[0], device=groups.device)
    return torch.where(groups < 0, -1 - index, groups)
