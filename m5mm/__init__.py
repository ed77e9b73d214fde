"""m5mm: multi-modal pretraining on product catalogues (SCALE and the M5Product benchmark)."""
from .version import __version__

__all__ = ['__version__']
