"""m5mm-pointcloud: the product's 3D shape as a sixth m5mm modality.

Importing this package (m5mm does it through the ``m5mm.plugins`` entry point) registers:

* ``MODALITIES``: ``pointcloud`` (:class:`PointCloudModality`, manifest field ``pointcloud``)
* ``TRANSFORMS``: :class:`LoadPointCloud` (.npy / ASCII .ply -> ``points`` (N, 3))
* ``ENCODERS``: :class:`PointCloudEncoder` (patch grouping + mini-PointNet -> tokens)
* ``DATASETS``: :class:`PointCloudDemoDataset` (the demo catalogue with point clouds, generated
  when missing)
"""
from m5mm.utils.plugins import require_m5mm

from .version import M5MM_REQUIREMENT, __version__

require_m5mm(M5MM_REQUIREMENT, plugin='m5mm-pointcloud')

from .load_point_cloud import LoadPointCloud  # noqa: E402
from .point_cloud_demo_dataset import PointCloudDemoDataset  # noqa: E402
from .point_cloud_encoder import PointCloudEncoder  # noqa: E402
from .point_cloud_modality import PointCloudModality  # noqa: E402

__all__ = ['LoadPointCloud', 'M5MM_REQUIREMENT', 'PointCloudDemoDataset', 'PointCloudEncoder',
           'PointCloudModality', '__version__']
