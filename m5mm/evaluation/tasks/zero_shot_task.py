"""Zero-shot classification: products assigned to the category whose text prompts they are closest to."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from m5mm.registry import TASKS

from ..metrics.classification import topk_accuracy
from ..topk import as_feature_tensor, l2_normalize
from .task_result import TaskResult
from .split_access import FeaturesBySplit, get_field, get_split

DEFAULT_PROMPTS = ('{}',)


def class_embeddings(prompt_features, prompt_labels, num_classes: int) -> torch.Tensor:
    """(C, D): per class, the normalised mean of its normalised prompt embeddings (P, D)."""
    x = l2_normalize(as_feature_tensor(prompt_features, 'prompt features'))
    labels = torch.as_tensor(np.asarray(prompt_labels), dtype=torch.long)
    missing = sorted(set(range(num_classes)) - set(labels.tolist()))
    if missing:
        raise ValueError(f'classes {missing[:5]} have no prompt embedding')
    sums = torch.zeros((num_classes, x.shape[1])).index_add_(0, labels, x)
    return l2_normalize(sums)


@TASKS.register_module()
class ZeroShotClassificationTask:
    """Classify products by their nearest category text, with no training: accuracy and top-k.

    ``task(features_by_split) -> {'zero_shot': {'accuracy': .., 'top5': ..}}``.

    The ``prompts_split`` holds one text embedding per (category, prompt) with the category
    index in its ``category`` field (``m5mm.evaluation.text_queries`` embeds "a photo of {}"-style
    prompts with the text tower); several prompts of a category are averaged (prompt
    ensembling). Scores are cosine similarities; labels < 0 are skipped.

    Args:
        split: the products classified. prompts_split: the category prompt embeddings.
        label_key: the true labels. ks: top-k cut-offs (1 -> 'accuracy', 5 -> 'top5').
    """

    #: what ``tools/test.py --tasks`` and ``EvaluationHook`` call it, the test-data splits it reads, and the
    #: feature sets it scores (:data:`m5mm.evaluation.evaluate.INPUTS`)
    task_name = 'zero_shot'
    data_splits = ('query', 'gallery')
    inputs = ('test', 'category_prompts')

    def __init__(self, *, split: str = 'test', prompts_split: str = 'category_prompts',
                 label_key: str = 'category', ks: Sequence[int] = (1, 5)) -> None:
        self.split = split
        self.prompts_split = prompts_split
        self.label_key = label_key
        self.ks = tuple(ks)

    def __call__(self, features_by_split: FeaturesBySplit) -> TaskResult:
        """Cosine similarity to every category -> top-k accuracy."""
        data = get_split(features_by_split, self.split)
        prompts = get_split(features_by_split, self.prompts_split)
        prompt_labels = get_field(prompts, self.label_key, self.prompts_split)
        classes = class_embeddings(prompts['features'], prompt_labels, int(prompt_labels.max()) + 1)
        logits = l2_normalize(as_feature_tensor(data['features'])) @ classes.T
        out, counts = topk_accuracy(logits, get_field(data, self.label_key, self.split), ks=self.ks,
                                    return_counts=True)
        return TaskResult({'zero_shot': out}, counts)
