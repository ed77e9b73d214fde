"""Projection, masked-prediction and classification heads."""
from .classification_head import ClassificationHead
from .feature_regression_head import FeatureRegressionHead
from .masked_token_head import MaskedTokenHead
from .projection_head import ProjectionHead
from .residual_projection_head import ResidualProjectionHead

__all__ = ['ClassificationHead', 'FeatureRegressionHead', 'MaskedTokenHead', 'ProjectionHead', 'ResidualProjectionHead']
