"""The ``pointcloud`` modality: a product's 3D shape as ``points (N, 3)``, padded along N."""
from __future__ import annotations

import torch

from m5mm.datasets.modalities import KeySpec, ModalitySpec
from m5mm.registry import MODALITIES


@MODALITIES.register_module(name='pointcloud')
class PointCloudModality(ModalitySpec):
    """Point cloud: the manifest field ``pointcloud`` is a path to a ``.npy`` (N, 3) or an ASCII
    ``.ply``; batch keys ``points (B, N, 3)`` and ``point_mask (B, N)`` (False at padding and for
    absent samples). With ``source='feature'`` the field ``pointcloud_feat`` names a ``.npy`` of
    pre-extracted features (``feats``/``feat_mask``, read by m5mm's ``FeatureEncoder``)."""

    name = 'pointcloud'
    field_type = 'path'
    keys = (KeySpec('points', pad=0.0, shape=(3,), dtype=torch.float32),)
    mask_key = 'point_mask'
    raw_pipeline = (dict(type='LoadPointCloud', num_points=1024),)
