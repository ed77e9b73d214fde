"""Classification accuracy and top-k accuracy from logits.

The rank of the true class is the number of classes with a larger logit plus the number of
classes with an equal logit and a smaller class index (ties go to the lower index, as in a
stable sort); a sample is correct at k when that rank is < k. Labels < 0 are unknown and
left out (their count is reported by :func:`topk_accuracy` with ``return_counts``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor


def true_class_rank(logits: Tensor, labels: Tensor) -> Tensor:
    """(N, C) logits, (N,) labels in [0, C) -> (N,) 0-based rank of the true class."""
    true = logits.gather(1, labels.unsqueeze(1))
    before = torch.arange(logits.shape[1], device=logits.device).unsqueeze(0) < labels.unsqueeze(1)
    return (logits > true).sum(dim=1) + ((logits == true) & before).sum(dim=1)


def metric_name(k: int) -> str:
    """'accuracy' for k=1, 'top5' for k=5, ..."""
    return 'accuracy' if k == 1 else f'top{k}'


def topk_accuracy(logits, labels, *, ks: Sequence[int] = (1, 5), return_counts: bool = False):
    """Accuracy at each k of ``logits`` (N, C) for ``labels`` (N,) (-1 = unknown, skipped).

    Returns:
        ``{'accuracy': .., 'top5': ..}`` fractions in [0, 1] (NaN when no sample is labelled),
        and ``{'num_samples', 'num_evaluated'}`` when ``return_counts``.
    """
    logits = torch.as_tensor(np.asarray(logits) if not isinstance(logits, Tensor) else logits).detach()
    labels = torch.as_tensor(np.asarray(labels) if not isinstance(labels, Tensor) else labels).detach()
    if logits.dim() != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f'expected logits (N, C) and labels (N,), got {tuple(logits.shape)} and '
                         f'{tuple(labels.shape)}')
    labels = labels.to(device=logits.device, dtype=torch.long)
    if bool((labels >= logits.shape[1]).any()):
        raise ValueError(f'labels go up to {int(labels.max())} but logits have {logits.shape[1]} classes')
    known = labels >= 0
    rank = true_class_rank(logits[known].float(), labels[known])
    n = int(known.sum())
    out = {metric_name(k): float((rank < k).double().mean()) if n else float('nan') for k in ks}
    counts = {'num_samples': int(labels.shape[0]), 'num_evaluated': n}
    return (out, counts) if return_counts else out
