"""Contrastive, masked-modelling and fusion-level (matching) losses; each returns named scalars."""
from .base_fusion_loss import BaseFusionLoss
from .base_masked_loss import BaseMaskedLoss
from .inter_modality_contrastive_loss import InterModalityContrastiveLoss
from .masked_entity_model_loss import MaskedEntityModelLoss
from .masked_feature_regression_loss import MaskedFeatureRegressionLoss
from .masked_language_model_loss import MaskedLanguageModelLoss
from .matching_loss import MatchingLoss

__all__ = ['BaseFusionLoss', 'BaseMaskedLoss', 'InterModalityContrastiveLoss', 'MaskedEntityModelLoss',
           'MaskedFeatureRegressionLoss', 'MaskedLanguageModelLoss', 'MatchingLoss']
