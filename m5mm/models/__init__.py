"""Model parts: encoders, fusion strategies, harmonizers, losses, heads and the pretrainers
composed from them. Importing this package registers every part."""
from . import encoders, fusion, harmonizers, heads, layers, losses, pretrainers

__all__ = ['encoders', 'fusion', 'harmonizers', 'heads', 'layers', 'losses', 'pretrainers']
