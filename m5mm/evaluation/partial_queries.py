"""Features for partial-query retrieval: the query split encoded with only some of its modalities.

For each query subset S (``PartialQueryRetrievalTask``), ``query@S`` holds the query products
encoded with every modality outside S dropped (``extract_features(..., modalities=S)``); for the
reference R, ``gallery@R`` holds the gallery products that have every modality of R, encoded with
only R. Subsets naming a modality the model lacks are left out with a warning.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Sequence, Tuple

from torch import nn

from m5mm.evaluation.tasks.partial_query_retrieval_task import (DEFAULT_REFERENCE, DEFAULT_SUBSETS, subset_split,
                                                                with_all_present)
from m5mm.utils.distributed import unwrap_model

logger = logging.getLogger(__name__)


def usable_subsets(model: nn.Module, subsets: Sequence[Sequence[str]], reference: Optional[Sequence[str]]
                   ) -> Tuple[list, Optional[tuple]]:
    """The subsets (and the reference) whose modalities the model has; a warning names the others."""
    known = getattr(unwrap_model(model), 'modalities', None)
    kept = [tuple(s) for s in subsets if known is None or all(m in known for m in s)]
    lost = [tuple(s) for s in subsets if tuple(s) not in kept]
    if lost:
        logger.warning('partial-query retrieval: subsets %s skipped, the model has only %s', lost, list(known))
    if not kept:
        raise ValueError(f'partial-query retrieval: no subset of {list(subsets)} fits the model\'s modalities '
                         f'{list(known or ())}')
    reference = tuple(reference) if reference is not None and tuple(reference) in kept else None
    return kept, reference


def partial_query_splits(model: nn.Module, cfg, *, subsets: Sequence[Sequence[str]] = DEFAULT_SUBSETS,
                         reference: Optional[Sequence[str]] = DEFAULT_REFERENCE, kind: str = 'joint',
                         accelerator=None, media: Optional[dict] = None
                         ) -> Tuple[Dict[str, Dict[str, Any]], dict]:
    """The ``query@S`` (and ``gallery@R``) splits and the ``PartialQueryRetrievalTask`` config that reads them.

    Args:
        subsets: query modality subsets. reference: the reference subset (None: none).
        kind, accelerator, media: see :func:`m5mm.evaluation.evaluate.extract_splits`.
    """
    from m5mm.evaluation.evaluate import extract_splits
    subsets, reference = usable_subsets(model, subsets, reference)
    splits: Dict[str, Dict[str, Any]] = {}
    for subset in subsets:
        data = extract_splits(model, cfg, ('query',), kind=kind, modalities=subset, accelerator=accelerator,
                              media=media)['query']
        splits[subset_split('query', subset)] = data
    if reference is not None:
        name = subset_split('gallery', reference)
        data = extract_splits(model, cfg, ('gallery',), kind=kind, modalities=reference, accelerator=accelerator,
                              media=media)['gallery']
        splits[name] = with_all_present(data, reference, name)
    task = dict(type='PartialQueryRetrievalTask', subsets=[list(s) for s in subsets],
                reference=None if reference is None else list(reference))
    return splits, task
