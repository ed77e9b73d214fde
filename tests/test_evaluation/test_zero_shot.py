"""Zero-shot classification: nearest category prompt embedding, accuracy and top-k."""
import numpy as np
import pytest

from m5mm.evaluation.text_queries import prompt_texts
from m5mm.evaluation import run_tasks
from m5mm.evaluation.tasks.zero_shot_task import class_embeddings


def test_zero_shot_equals_a_direct_nearest_class_computation():
    rng = np.random.default_rng(0)
    products = rng.normal(size=(30, 8)).astype(np.float32)
    labels = rng.integers(0, 4, size=30)
    labels[0] = -1                                          # unknown label: skipped
    prompts = rng.normal(size=(8, 8)).astype(np.float32)    # 4 classes x 2 prompts
    prompt_labels = np.repeat(np.arange(4), 2)
    results, counts = run_tasks({'test': {'ids': [str(i) for i in range(30)], 'features': products,
                                          'category': labels},
                                 'category_prompts': {'ids': [f'p{i}' for i in range(8)], 'features': prompts,
                                                      'category': prompt_labels}},
                                [dict(type='ZeroShotClassificationTask', ks=(1, 2))], return_counts=True)
    unit = prompts / np.linalg.norm(prompts, axis=1, keepdims=True)
    classes = np.stack([unit[2 * c:2 * c + 2].mean(0) for c in range(4)])
    classes /= np.linalg.norm(classes, axis=1, keepdims=True)
    sims = (products / np.linalg.norm(products, axis=1, keepdims=True)) @ classes.T
    order = np.argsort(-sims, axis=1, kind='stable')
    known = labels >= 0
    top1 = (order[known, 0] == labels[known]).mean()
    top2 = (order[known, :2] == labels[known, None]).any(1).mean()
    assert results['zero_shot'] == {'accuracy': pytest.approx(top1), 'top2': pytest.approx(top2)}
    assert counts['zero_shot'] == {'num_samples': 30, 'num_evaluated': 29}


def test_prompts_and_missing_classes():
    texts, labels = prompt_texts(['teapot', 'desk lamp'], ['a photo of {}', '{}'])
    assert texts == ['a photo of teapot', 'teapot', 'a photo of desk lamp', 'desk lamp']
    assert labels.tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match='must contain'):
        prompt_texts(['teapot'], ['no placeholder'])
    with pytest.raises(ValueError, match='no prompt'):
        class_embeddings(np.ones((2, 3), np.float32), [0, 2], 3)
