"""Hide modalities of a batch, to extract features from a subset of modalities at query time."""
from __future__ import annotations

from typing import Iterable

import torch

from m5mm.structures import Batch, batch_modalities


def drop_modalities(batch: Batch, *, keep: Iterable[str]) -> Batch:
    """A copy of ``batch`` in which every modality not in ``keep`` is marked absent.

    Only ``present`` changes (to all False) for the dropped modalities; their data stay as
    padding, which every module masks by ``present``. The input batch is not modified.

    Args:
        batch: a collated batch (``{modality: {'present': (B,) bool, ...}, 'meta': ...}``).
        keep: the modality names that stay as they are.

    Raises:
        KeyError: a name in ``keep`` is not a modality of the batch.
    """
    keep = list(keep)
    names = batch_modalities(batch)
    unknown = [m for m in keep if m not in names]
    if unknown:
        raise KeyError(f'drop_modalities: {unknown} not in the batch; its modalities are {names}')
    out = dict(batch)
    for name in names:
        if name in keep:
            continue
        entry = batch[name]
        if not isinstance(entry, dict) or 'present' not in entry:
            raise KeyError(f"batch[{name!r}] has no 'present' flag; every modality entry needs one")
        out[name] = {**entry, 'present': torch.zeros_like(entry['present'], dtype=torch.bool)}
    return out
