"""The demo catalogue with point clouds, generated on a fresh data root."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from m5mm.datasets import ManifestDataset, generation_lock
from m5mm.registry import CATALOGUES, DATASETS
from m5mm.utils.build import check_arguments

from .demo import add_pointclouds


def ensure_demo_with_pointclouds(data_root: Union[str, Path], *, demo: dict,
                                 pointclouds: Optional[dict] = None) -> dict:
    """Write a catalogue of m5mm's ``CATALOGUES`` registry into ``data_root`` if it has no manifest
    (``demo``: ``dict(type='demo', num_products=..., seed=...)``, ``type`` defaults to ``'demo'``),
    then add the point clouds (a no-op when done).

    Returns:
        The point-cloud summary of :func:`~m5mm_pointcloud.demo.add_pointclouds`.
    """
    root = Path(data_root)
    with generation_lock(root):  # the lock ManifestDataset's generate_if_missing takes: ranks generate once
        if not (root / 'manifest.jsonl').is_file():
            CATALOGUES.build(dict({'type': 'demo', **demo}, out_dir=str(root)))
    return add_pointclouds(root, **(pointclouds or {}))


@DATASETS.register_module()
class PointCloudDemoDataset(ManifestDataset):
    """A :class:`~m5mm.datasets.ManifestDataset` whose ``generate_if_missing`` also adds point clouds.

    With ``generate_if_missing`` set, a data root without a manifest gets m5mm's demo
    catalogue (``CATALOGUES`` entry ``generate_if_missing['type']``, default ``'demo'``) and every demo root
    gets its point clouds (``add_pointclouds(data_root, **pointclouds)``, done once). Without
    it (e.g. after ``--cfg-options data_root=DIR``) this is a plain ManifestDataset.

    Args:
        data_root: dataset folder.
        generate_if_missing: catalogue options (``type``, ``num_products``, ``seed``, ...) or None.
        pointclouds: options of :func:`~m5mm_pointcloud.demo.add_pointclouds` (``seed``,
            ``missing_rate``, ``factor_noise_rate``).
        **kwargs: the other :class:`~m5mm.datasets.ManifestDataset` arguments.
    """

    def __init__(self, *, data_root: str, generate_if_missing: Optional[dict] = None,
                 pointclouds: Optional[dict] = None, **kwargs: Any) -> None:
        check_arguments(ManifestDataset, kwargs)  # a misspelt key names the closest argument
        if generate_if_missing is not None:
            ensure_demo_with_pointclouds(data_root, demo=generate_if_missing, pointclouds=pointclouds)
        super().__init__(data_root=data_root, generate_if_missing=generate_if_missing, **kwargs)
