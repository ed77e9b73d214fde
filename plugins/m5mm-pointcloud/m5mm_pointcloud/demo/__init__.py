"""Point clouds for m5mm's demo catalogue: 3D primitives that follow each category's shape."""
from .extend import add_pointclouds, category_primitive, render_point_cloud
from .shapes import PRIMITIVES, SHAPE_TO_PRIMITIVE, sample_primitive

__all__ = ['PRIMITIVES', 'SHAPE_TO_PRIMITIVE', 'add_pointclouds', 'category_primitive', 'render_point_cloud',
           'sample_primitive']
