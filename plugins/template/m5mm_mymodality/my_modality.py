"""The modality spec: where the modality lives in a manifest record and how it is batched."""
from __future__ import annotations

import torch

from m5mm.datasets.modalities import KeySpec, ModalitySpec
from m5mm.registry import MODALITIES


@MODALITIES.register_module(name='mymodality')  # TODO(plugin): the modality name (= the manifest field)
class MyModality(ModalitySpec):
    """TODO(plugin): describe it. Here: the manifest field ``mymodality`` is a path to a ``.npy``
    signal (T, C); batch keys ``values (B, T, C)`` (padded along T) and ``value_mask (B, T)``."""

    name = 'mymodality'             # TODO(plugin): the same name
    field_type = 'path'             # 'path': the field holds a file path; 'value': the data itself
    keys = (KeySpec('values', pad=0.0, shape=(3,), dtype=torch.float32),)  # TODO(plugin): your tensors
    mask_key = 'value_mask'         # TODO(plugin): the (B, L) mask of padded keys (None if none)
    raw_pipeline = (dict(type='LoadMySignal'),)  # the default pipeline
