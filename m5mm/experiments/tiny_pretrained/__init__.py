"""Tiny random models of every supported pretrained family, saved as model folders (for tests and
benchmarks that must run offline): ``python tools/make_tiny_pretrained.py --out data/tiny_pretrained``."""
from .models import FAMILIES, make_tiny_model, make_tiny_pretrained

__all__ = ['FAMILIES', 'make_tiny_model', 'make_tiny_pretrained']
