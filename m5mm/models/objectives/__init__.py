"""Training objectives (OBJECTIVES registry): each owns its head and loss and is called as
``objective(ctx) -> {name: tensor}`` on a step's forward context."""
from .base_masked_objective import BaseMaskedObjective
from .base_objective import BaseObjective
from .build_facts import ObjectiveBuildFacts
from .builder import build_objectives
from .classification_objective import ClassificationObjective
from .cross_listing_objective import CrossListingObjective
from .inter_modality_contrastive_objective import InterModalityContrastiveObjective
from .masked_entity_model_objective import MaskedEntityModelObjective
from .masked_feature_regression_objective import MaskedFeatureRegressionObjective
from .masked_language_model_objective import MaskedLanguageModelObjective
from .matching_objective import MatchingObjective
from .matryoshka_objective import MatryoshkaObjective
from .pretext import default_objectives, pretext_objective
from .relational_distillation_objective import RelationalDistillationObjective
from .selection import objective_needs, select_objectives
from .sigmoid_contrastive_objective import SigmoidContrastiveObjective
from .subset_consistency_objective import SubsetConsistencyObjective
from .uniformity_objective import UniformityObjective

__all__ = ['BaseMaskedObjective', 'BaseObjective', 'ClassificationObjective', 'CrossListingObjective',
           'InterModalityContrastiveObjective',
           'MaskedEntityModelObjective', 'MaskedFeatureRegressionObjective', 'MaskedLanguageModelObjective',
           'MatchingObjective', 'MatryoshkaObjective', 'ObjectiveBuildFacts', 'RelationalDistillationObjective',
           'SigmoidContrastiveObjective', 'SubsetConsistencyObjective', 'UniformityObjective',
           'build_objectives', 'default_objectives', 'objective_needs', 'pretext_objective', 'select_objectives']
