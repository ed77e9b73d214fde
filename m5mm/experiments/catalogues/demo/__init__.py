"""The embedded demo catalogue: a small controlled multi-modal benchmark of real media files.

``make_demo_dataset(out_dir)`` writes a few hundred synthetic products (JPEG, H.264 mp4, WAV,
titles, attribute tables) in the m5mm manifest format; see ``docs/demo_data.md``.
"""
from .design import CATEGORIES, CategorySpec, InstanceSpec
from .generate import make_demo_dataset, summarize
from .plan import PlannedRecord, plan_demo_dataset

__all__ = ['CATEGORIES', 'CategorySpec', 'InstanceSpec', 'PlannedRecord', 'make_demo_dataset',
           'plan_demo_dataset', 'summarize']
