"""Model parts: encoders, fusion strategies, harmonizers, heads, joint necks, the backbone composed from them,
the objectives trained on it, and the models (pretrainers, classifiers) that compose a backbone with
objectives, and training-free baselines. Importing this package registers every part."""
from . import (backbones, baselines, classifiers, encoders, fusion, harmonizers, heads, layers, necks, objectives,
               pretrainers)

__all__ = ['backbones', 'baselines', 'classifiers', 'encoders', 'fusion', 'harmonizers', 'heads', 'layers',
           'necks', 'objectives', 'pretrainers']
