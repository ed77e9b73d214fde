"""The Matryoshka objective: each nested prefix of the joint vector is trained as a vector of its own."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from m5mm.models.objectives import MatryoshkaObjective, SubsetConsistencyObjective
from m5mm.models.objectives.matryoshka import matryoshka_info_nce, prefix, symmetric_info_nce


def _views(n=12, dim=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    full = torch.randn(n, dim, generator=gen)
    return full, full + 0.5 * torch.randn(n, dim, generator=gen)


def _reference(a, b, temperature):
    """InfoNCE written out: -log softmax of the diagonal, both directions, on unit vectors."""
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = a @ b.t() / temperature
    return 0.5 * (-logits.log_softmax(1).diag().mean() - logits.log_softmax(0).diag().mean())


def test_the_loss_is_the_weighted_mean_of_each_prefix_infonce():
    full, part = _views()
    loss, accs = matryoshka_info_nce(full, part, dims=(4, 8, 16), temperature=0.1, weights=(1, 2, 1))
    expected = sum(w * _reference(full[:, :d], part[:, :d], 0.1) for d, w in ((4, 1), (8, 2), (16, 1))) / 4
    torch.testing.assert_close(loss, expected)
    assert sorted(accs) == [4, 8, 16]
    # one prefix: the full width is the plain InfoNCE of the objective it extends
    whole, _ = matryoshka_info_nce(full, part, dims=(16,), temperature=0.1)
    plain = SubsetConsistencyObjective(temperature=0.1).compute(full, part, torch.ones(12, dtype=torch.bool))
    torch.testing.assert_close(whole, plain['loss_subset'])


def test_a_prefix_loss_depends_on_the_prefix_only():
    full, part = _views()
    full.requires_grad_(True)
    loss, _ = matryoshka_info_nce(full, part, dims=(4,), temperature=0.1)
    loss.backward()
    assert full.grad[:, :4].abs().sum() > 0 and torch.all(full.grad[:, 4:] == 0)
    changed = full.detach().clone()
    changed[:, 4:] = torch.randn(12, 12)
    torch.testing.assert_close(matryoshka_info_nce(changed, part, dims=(4,), temperature=0.1)[0], loss.detach())


def test_training_with_nested_prefixes_makes_short_prefixes_retrieve():
    """Free vectors trained to match noisy views: with the Matryoshka loss the 4-dim prefix finds its pair far
    more often than when only the full 32 dims are trained (the property the index's prefix cut relies on)."""
    def train(dims):
        torch.manual_seed(0)
        table = torch.nn.Parameter(torch.randn(64, 32) * 0.1)
        noise = torch.randn(64, 32) * 0.1
        optimizer = torch.optim.Adam([table], lr=0.05)
        for _ in range(150):
            loss, _ = matryoshka_info_nce(table, table + noise, dims=dims, temperature=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            a, b = prefix(table, 4), prefix(table + noise * 4, 4)
            return symmetric_info_nce(a, b, 0.1)[1].item()
    assert train((4, 8, 16, 32)) > train((32,)) + 0.1


def test_the_objective_reports_every_prefix_and_checks_its_dims():
    objective = MatryoshkaObjective(dims=(4, 8, 16), temperature=0.1)
    full, part = _views()
    out = objective.compute(full, part, torch.ones(12, dtype=torch.bool))
    assert sorted(out) == ['acc_mrl', 'acc_mrl_4', 'acc_mrl_8', 'loss_mrl']
    assert MatryoshkaObjective().dims_for(256) == (32, 64, 128, 256)
    assert MatryoshkaObjective().dims_for(100) == (32, 64, 100)
    with pytest.raises(ValueError, match='strictly increasing'):
        MatryoshkaObjective(dims=(64, 32))
    with pytest.raises(ValueError, match='larger than the vectors'):
        MatryoshkaObjective(dims=(8, 32)).compute(full, part, torch.ones(12, dtype=torch.bool))
    few = objective.compute(full, part, torch.tensor([True] + [False] * 11))   # fewer than 2 rows: a tied 0
    assert few['loss_mrl'].item() == 0.0


def test_the_objective_trains_in_a_model(tiny_config, demo_root):
    """Built from the tiny config with the objective added: one step returns its loss and per-prefix accuracy."""
    from m5mm.datasets.loaders import build_dataset
    from m5mm.models.param_budget import build_model_from_config
    from m5mm.utils.config import load_config
    cfg = load_config(tiny_config, {'data_root': str(demo_root)})
    cfg.model.objectives = dict(con=dict(type='InterModalityContrastiveObjective'),
                                mrl=dict(type='MatryoshkaObjective', dims=[8, 16, 32]))
    dataset = build_dataset(cfg.train_dataloader.dataset)
    model = build_model_from_config(cfg, dataset.meta).train()
    out = model(dataset.collate([dataset[i] for i in range(6)]))
    assert {'loss_mrl', 'acc_mrl', 'acc_mrl_8', 'acc_mrl_16'} <= set(out)
    out['loss_mrl'].backward()
    from m5mm.api.export import trained_prefixes
    assert trained_prefixes(model) == (8, 16, 32)
    assert model.backbone.fusion.cls_token.grad is not None or any(
        p.grad is not None for p in model.backbone.fusion.parameters())


def test_prefix_retrieval_and_the_model_card_table():
    """Cut vectors: the retrieval of a prefix equals retrieval on the renormalised first d coordinates."""
    import numpy as np
    from m5mm.api.model_card import render_card
    from m5mm.evaluation import retrieval_metrics
    from m5mm.evaluation.prefix_retrieval import cut_features, prefix_dims, prefix_retrieval
    rng = np.random.default_rng(0)

    def split(n):
        return dict(ids=[f'p{i}' for i in range(n)], features=rng.normal(size=(n, 48)).astype(np.float32),
                    category=rng.integers(0, 3, n), instance=rng.integers(0, 6, n))
    features = dict(query=split(10), gallery=split(30))
    assert prefix_dims(48) == [32, 48]
    rows = prefix_retrieval(features, dims=(16, 32))
    assert [r['dim'] for r in rows] == [16, 32, 48] and rows[0]['bytes_int8'] == 16 and rows[0]['bytes_binary'] == 2
    expected = retrieval_metrics(cut_features(features['query']['features'], 16),
                                 cut_features(features['gallery']['features'], 16), features['query']['category'],
                                 features['gallery']['category'], ks=(1,), query_ids=features['query']['ids'],
                                 gallery_ids=features['gallery']['ids'])
    assert rows[0]['retrieval_coarse']['mAP@1'] == pytest.approx(expected['mAP@1'])
    card = render_card(dict(model={}, modalities=['text'], data_meta={}, feature='joint'), dict(prefixes=rows))
    assert '## Vector dimensions (Matryoshka)' in card and '| 16 | 64 | 16 |' in card
