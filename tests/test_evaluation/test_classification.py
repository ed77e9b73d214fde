import math

import numpy as np
import pytest
import torch

from m5mm.evaluation import LinearProbe, topk_accuracy


def test_topk_accuracy_hand_made():
    logits = torch.tensor([[0.1, 0.9, 0.0],
                           [0.8, 0.1, 0.1],
                           [0.2, 0.3, 0.5],
                           [0.5, 0.5, 0.0]])
    labels = torch.tensor([1, 2, 0, 1])
    out = topk_accuracy(logits, labels, ks=(1, 2, 5))
    # ranks of the true class: 0, 2 (class 0 larger, class 1 tied with a lower index), 2,
    # 1 (tied with class 0, which has the lower index)
    assert out == {'accuracy': 0.25, 'top2': 0.5, 'top5': 1.0}


def test_topk_accuracy_matches_reference_and_ignores_unknown():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 12)).astype(np.float32)
    labels = rng.integers(-1, 12, size=200)
    out, counts = topk_accuracy(logits, labels, ks=(1, 5), return_counts=True)
    known = labels >= 0
    order = np.argsort(-logits[known], axis=1, kind='stable')
    ref1 = np.mean(order[:, 0] == labels[known])
    ref5 = np.mean([labels[known][i] in order[i, :5] for i in range(known.sum())])
    assert out['accuracy'] == pytest.approx(ref1) and out['top5'] == pytest.approx(ref5)
    assert counts == {'num_samples': 200, 'num_evaluated': int(known.sum())}
    assert math.isnan(topk_accuracy(logits[:2], [-1, -1])['accuracy'])
    with pytest.raises(ValueError, match='classes'):
        topk_accuracy(logits, np.full(200, 12))


def _blobs(seed, n_per=40, classes=5, dim=16):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(classes, dim))
    y = np.repeat(np.arange(classes), n_per)
    x = centers[y] + rng.normal(size=(len(y), dim))
    return x.astype(np.float32), y * 10 + 3            # non-contiguous label values


@pytest.mark.parametrize('optimizer', ['lbfgs', 'adam'])
def test_linear_probe_separable(optimizer):
    x, y = _blobs(0)
    xt, yt = _blobs(0)
    xt += np.random.default_rng(1).normal(scale=0.3, size=xt.shape).astype(np.float32)
    kwargs = dict(max_iter=100) if optimizer == 'lbfgs' else dict(max_iter=30, lr=0.05, batch_size=64)
    probe = LinearProbe(optimizer=optimizer, **kwargs).fit(x, y)
    out = probe.evaluate(xt, yt)
    assert out['accuracy'] >= 0.97 and out['top5'] == 1.0
    assert list(probe.classes) == [3, 13, 23, 33, 43]


def test_linear_probe_deterministic_and_unseen_classes_count_wrong():
    x, y = _blobs(2, classes=3)
    a = LinearProbe(max_iter=50).fit(x, y).predict_logits(x)
    b = LinearProbe(max_iter=50).fit(x, y).predict_logits(x)
    assert torch.equal(a, b)
    probe = LinearProbe(max_iter=50).fit(x, y)
    yt = y.copy()
    yt[:30] = 999                                       # a class the probe never saw
    out = probe.evaluate(x, yt, ks=(1, 5))
    assert out['top5'] == pytest.approx(1 - 30 / len(y))
    with pytest.raises(ValueError, match='at least 2 classes'):
        LinearProbe().fit(x, np.zeros(len(x), dtype=int))


@pytest.mark.parametrize('classes', [2, 4])
def test_linear_probe_minimises_the_documented_objective(classes):
    """mean cross-entropy + weight_decay / 2 ||W||^2 (bias not decayed) has a zero gradient at the fit."""
    x, y = _blobs(4, n_per=30, classes=classes, dim=6)
    x += np.random.default_rng(5).normal(scale=3.0, size=x.shape).astype(np.float32)   # overlapping classes
    probe = LinearProbe(weight_decay=1e-2, max_iter=500).fit(x, y)
    xs = (torch.from_numpy(x).double() - probe.mean.double()) / probe.std.double()
    target = torch.from_numpy(np.searchsorted(probe.classes, y))
    weight = probe.weight.double().requires_grad_()
    bias = probe.bias.double().requires_grad_()
    loss = torch.nn.functional.cross_entropy(xs @ weight.T + bias, target) + 0.005 * (weight ** 2).sum()
    loss.backward()
    assert weight.grad.abs().max() < 1e-4 and bias.grad.abs().max() < 1e-4
    assert probe.predict_logits(x).shape == (len(x), classes)
