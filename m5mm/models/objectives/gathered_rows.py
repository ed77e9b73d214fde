"""The rows of the whole batch (all processes) that hold a modality, for per-modality objectives that need them all."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, List, Optional, Sequence, Tuple

from torch import Tensor

from m5mm.utils.distributed import all_gather_tensor, gather_sizes

if TYPE_CHECKING:
    from m5mm.models.backbones import ForwardContext


def present_rows(ctx: 'ForwardContext', modalities: Optional[Sequence[str]] = None,
                 min_rows: int = 2) -> Iterator[Tuple[str, Tensor, List[int]]]:
    """For each of ``modalities`` (default: the model's) present in at least ``min_rows`` samples of the
    gathered batch: ``(modality, rows, sizes)``, ``rows`` (n,) the indices of those samples in the
    concatenation of every process's batch, ``sizes`` the local batch sizes (for ``gather_with_grad`` /
    ``all_gather_tensor``). Every process yields the same, so a loss over them is the whole batch's."""
    first = ctx.clean_embeddings[ctx.backbone.modalities[0]]
    sizes = gather_sizes(first.shape[0], first.device)
    for m in modalities or ctx.backbone.modalities:
        present = all_gather_tensor(ctx.present[m].bool().to(first.device), sizes)
        rows = present.nonzero().squeeze(1)
        if rows.numel() >= min_rows:
            yield m, rows, sizes
