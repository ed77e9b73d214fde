"""Modality-importance harmonizers: (embeddings, present) -> (B, M, M) pair weights."""
from .base_harmonizer import BaseHarmonizer, pair_mask, stack_present
from .cosine_graph_harmonizer import CosineGraphHarmonizer
from .learned_score_harmonizer import LearnedScoreHarmonizer
from .uniform_harmonizer import UniformHarmonizer

__all__ = ['BaseHarmonizer', 'CosineGraphHarmonizer', 'LearnedScoreHarmonizer', 'UniformHarmonizer',
           'pair_mask', 'stack_present']
