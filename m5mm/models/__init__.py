"""Model parts: encoders, fusion strategies, harmonizers, losses, heads, the pretrainers
composed from them and the fine-tuned classifiers. Importing this package registers every part."""
from . import classifiers, encoders, fusion, harmonizers, heads, layers, losses, pretrainers

__all__ = ['classifiers', 'encoders', 'fusion', 'harmonizers', 'heads', 'layers', 'losses', 'pretrainers']
