"""Linear probe: multinomial logistic regression on frozen features.

Loss = mean cross-entropy + weight_decay / 2 * ||W||^2 (the bias is not decayed). Features
are standardised with the training mean and std (option). ``optimizer='lbfgs'`` is
scikit-learn's ``LogisticRegression`` (full-batch L-BFGS, deterministic) with
``C = 1 / (weight_decay * N)``, the same objective. ``optimizer='adam'`` runs seeded mini-batch
Adam in torch, m5mm's own code because scikit-learn has no mini-batch *multinomial* logistic
regression (``SGDClassifier`` fits one-vs-rest binary models, another model), for sets whose
N x C probabilities do not fit in memory. Classes are the labels seen in training; a test
sample of an unseen class is counted as wrong, and labels < 0 (unknown) are left out.
"""
from __future__ import annotations

import warnings
from typing import Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .metrics.classification import metric_name, true_class_rank
from .metrics.retrieval import as_labels
from .topk import as_feature_tensor

OPTIMIZERS = ('lbfgs', 'adam')


class LinearProbe:
    """Logistic-regression probe: ``LinearProbe(...).fit(train_x, train_y).evaluate(test_x, test_y)``.

    Args:
        weight_decay: L2 penalty on the weights.
        optimizer: 'lbfgs' (scikit-learn, full batch) or 'adam' (mini-batch).
        max_iter: L-BFGS iterations, or Adam epochs.
        lr: Adam's learning rate.
        batch_size: Adam mini-batch size.
        standardize: centre and scale features with training statistics.
        seed: seeds the Adam shuffling.
    """

    def __init__(self, *, weight_decay: float = 1e-4, optimizer: str = 'lbfgs', max_iter: int = 200,
                 lr: float = 1.0, batch_size: int = 4096, standardize: bool = True, seed: int = 0) -> None:
        if optimizer not in OPTIMIZERS:
            raise ValueError(f'optimizer must be one of {OPTIMIZERS}, got {optimizer!r}')
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.max_iter = max_iter
        self.lr = lr
        self.batch_size = batch_size
        self.standardize = standardize
        self.seed = seed
        self.classes: Optional[np.ndarray] = None
        self.weight: Optional[Tensor] = None
        self.bias: Optional[Tensor] = None
        self.mean: Optional[Tensor] = None
        self.std: Optional[Tensor] = None

    def _loss(self, x: Tensor, y: Tensor) -> Tensor:
        logits = x @ self.weight.T + self.bias
        return F.cross_entropy(logits, y) + 0.5 * self.weight_decay * (self.weight ** 2).sum()

    def _normalise(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std if self.standardize else x

    def fit(self, features, labels) -> 'LinearProbe':
        """Train on ``features`` (N, D) and integer ``labels`` (N,) (-1 = unknown, skipped)."""
        x = as_feature_tensor(features, 'train features')
        y = as_labels(labels, x.shape[0], 'train labels')
        keep = y >= 0
        x, y = x[torch.from_numpy(keep)], y[keep]
        self.classes, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes) < 2:
            raise ValueError(f'a linear probe needs at least 2 classes in training, got {len(self.classes)}')
        self.mean = x.mean(dim=0)
        self.std = x.std(dim=0, unbiased=False).clamp_min(1e-6)
        x, y = self._normalise(x), torch.from_numpy(y_idx.astype(np.int64))
        if self.optimizer == 'lbfgs':
            self._fit_lbfgs(x, y)
            return self
        self.weight = torch.zeros(len(self.classes), x.shape[1], requires_grad=True)
        self.bias = torch.zeros(len(self.classes), requires_grad=True)
        with torch.enable_grad():
            self._fit_adam(x, y)
        self.weight, self.bias = self.weight.detach(), self.bias.detach()
        return self

    def _fit_lbfgs(self, x: Tensor, y: Tensor) -> None:
        """scikit-learn's multinomial ``LogisticRegression``; two classes are one logistic model with
        ``C`` doubled, the softmax objective's optimum (logits -d/2, d/2)."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        scale = 2.0 if len(self.classes) == 2 else 1.0
        c = scale / (self.weight_decay * x.shape[0]) if self.weight_decay > 0 else np.inf
        model = LogisticRegression(C=c, max_iter=self.max_iter, tol=1e-6)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', ConvergenceWarning)   # max_iter is the documented budget
            model.fit(x.double().numpy(), y.numpy())
        weight, bias = torch.from_numpy(model.coef_).float(), torch.from_numpy(model.intercept_).float()
        if len(self.classes) == 2:
            weight, bias = torch.cat([-weight, weight]) / 2, torch.cat([-bias, bias]) / 2
        self.weight, self.bias = weight, bias

    def _fit_adam(self, x: Tensor, y: Tensor) -> None:
        opt = torch.optim.Adam([self.weight, self.bias], lr=self.lr)
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(self.max_iter):
            for idx in torch.randperm(x.shape[0], generator=generator).split(self.batch_size):
                opt.zero_grad()
                self._loss(x[idx], y[idx]).backward()
                opt.step()

    def predict_logits(self, features) -> Tensor:
        """(N, D) -> (N, C) logits over ``self.classes``."""
        if self.weight is None:
            raise RuntimeError('LinearProbe.predict_logits called before fit')
        x = self._normalise(as_feature_tensor(features, 'features'))
        return x @ self.weight.T + self.bias

    def evaluate(self, features, labels, *, ks: Sequence[int] = (1, 5)) -> Dict[str, float]:
        """``{'accuracy', 'top5'}`` on ``features`` (N, D) with labels (N,); unseen classes count wrong."""
        logits = self.predict_logits(features)
        y = as_labels(labels, logits.shape[0], 'labels')
        keep = y >= 0
        logits, y = logits[torch.from_numpy(keep)], y[keep]
        pos = np.clip(np.searchsorted(self.classes, y), 0, len(self.classes) - 1)
        seen = torch.from_numpy(self.classes[pos] == y)
        rank = true_class_rank(logits, torch.from_numpy(pos.astype(np.int64)))
        n = len(y)
        return {metric_name(k): float(((rank < k) & seen).double().mean()) if n else float('nan') for k in ks}
