"""Baselines that need no training (evaluated with ``tools/test.py CONFIG none``)."""
from .frozen_concat import FrozenConcatModel

__all__ = ['FrozenConcatModel']
