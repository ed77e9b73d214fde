"""Deprecated (m5mm 0.2 name): see :mod:`m5mm.models.backbones.collapse_statistics`."""
import warnings

from .collapse_statistics import COS_PREFIX, STD_PREFIX, embedding_spread, modality_spread  # noqa: F401

warnings.warn('m5mm.models.backbones.spread is renamed m5mm.models.backbones.collapse_statistics (m5mm 0.3)',
              FutureWarning, stacklevel=2)
