"""MultiModalClassifier: the paper's classification fine-tuning on a pretrainer backbone."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from m5mm.engine import run_training
from m5mm.evaluation.evaluate import split_dataloader
from m5mm.evaluation.evaluate_checkpoint import build_model_for_eval, evaluate_checkpoint
from m5mm.engine.optimizers import param_groups
from m5mm.checkpoint.weights import load_model_state_dict, save_model_state_dict
from m5mm.evaluation import extract_features, load_features, save_features
from m5mm.registry import MODELS
from m5mm.utils.config import load_config
from tests.conftest import REPO
from tests.test_models.batch_factory import make_batch, tiny_data_meta, tiny_encoder_cfgs

CLS_CONFIG = str(REPO / 'configs' / 'classification' / 'scale_cls_5mod_tiny.py')
PRE_CONFIG = str(REPO / 'configs' / 'scale_5mod_tiny.py')


def _backbone(dim=32):
    return dict(type='ScalePretrainer', encoders=tiny_encoder_cfgs(dim),
                fusion=dict(type='ScaleFusion', dim=dim, depth=1, num_heads=2),
                projection=dict(type='ProjectionHead', out_dim=16))


def _classifier(**kwargs):
    torch.manual_seed(0)
    cfg = dict(type='MultiModalClassifier', backbone=_backbone(),
               head=dict(type='ClassificationHead', hidden_dim=16, dropout=0.0), data_meta=tiny_data_meta())
    cfg.update(kwargs)
    return MODELS.build(cfg)


# ------------------------------------------------------------------ unit tests on a synthetic batch

def test_init_from_loads_the_matching_pretrained_weights(tmp_path):
    torch.manual_seed(1)
    pretrainer = MODELS.build(dict(_backbone(), data_meta=tiny_data_meta()))
    path = save_model_state_dict(pretrainer.state_dict(), tmp_path / 'pre.pt')
    scratch = _classifier()
    model = _classifier(init_from=str(path))
    saved, own = pretrainer.state_dict(), model.state_dict()
    shared = [name for name in own if name in saved]
    assert shared and all(name.startswith(('backbone.encoders.', 'backbone.fusion.', 'backbone.projections.'))
                          for name in shared)
    assert all(torch.equal(own[name], saved[name]) for name in shared)
    assert not torch.equal(scratch.state_dict()[shared[0]], own[shared[0]])   # really loaded, not the seed
    report = model.init_report
    assert report.loaded == sorted(shared) and report.mismatched == []
    assert set(report.missing) == {n for n in own if n.startswith('objectives.cls.head.')}
    assert any(n.startswith('objectives.mlm.head.') for n in report.unused)    # pretraining heads skipped
    # the loaded weights get the optimizer's lower learning rate, the new head the full one
    groups = param_groups(model, lr=1e-3, weight_decay=0.01, pretrained_lr_mult=0.1)
    lr_of = {name: g['lr'] for g in groups for name in g['names']}
    assert lr_of['objectives.cls.head.net.0.weight'] == pytest.approx(1e-3)
    fusion_param = next(n for n, _ in model.backbone.fusion.named_parameters())
    assert lr_of['backbone.fusion.' + fusion_param] == pytest.approx(1e-4)


def test_init_from_a_checkpoint_of_m5mm_0_1(tmp_path):
    """0.1 checkpoints named the parts at the top (``encoders.``, ``fusion.pos_embed``, ``heads.mlm``)."""
    torch.manual_seed(1)
    pretrainer = MODELS.build(dict(_backbone(), data_meta=tiny_data_meta()))
    legacy = {k.replace('backbone.', '', 1).replace('fusion.embed.', 'fusion.'): v
              for k, v in pretrainer.state_dict().items() if k.startswith('backbone.')}
    assert 'fusion.pos_embed.text' in legacy and 'encoders.text.backbone.embeddings.word_embeddings.weight' in legacy
    model = _classifier(init_from=str(save_model_state_dict(legacy, tmp_path / 'legacy.pt')))
    assert model.init_report.unused == [] and model.init_report.mismatched == []
    assert torch.equal(model.state_dict()['backbone.fusion.embed.pos_embed.text'], legacy['fusion.pos_embed.text'])
    assert model.init_report.loaded == sorted(n for n in model.state_dict() if n.startswith('backbone.'))


def test_init_from_a_checkpoint_of_another_model_is_an_error(tmp_path):
    path = save_model_state_dict({'something.else': torch.zeros(3)}, tmp_path / 'other.pt')
    with pytest.raises(ValueError, match='no tensor of the checkpoint matches'):
        _classifier(init_from=str(path))
    with pytest.raises(FileNotFoundError, match='no checkpoint'):
        _classifier(init_from=str(tmp_path / 'missing'))


def test_number_of_classes_comes_from_the_data_meta():
    objective = _classifier().objectives['cls']
    assert objective.num_classes == 3 and objective.head.net[-1].out_features == 3
    assert _classifier(num_classes=7).objectives['cls'].head.net[-1].out_features == 7
    assert _classifier().backbone.harmonizer is None       # classification weighs no modality pairs
    with pytest.raises(ValueError, match='number of classes'):
        _classifier(data_meta={k: v for k, v in tiny_data_meta().items() if k != 'num_categories'})


def test_forward_ignores_unknown_labels_and_uses_every_parameter():
    model = _classifier().eval()                                           # dropout off: same logits twice
    batch = make_batch(6, seed=3)
    batch['meta']['category'] = torch.tensor([0, -1, 2, 1, -1, 2])
    out = model(batch)
    logits = model.extract_features(batch)['logits']
    valid = batch['meta']['category'] >= 0
    expected = F.cross_entropy(logits[valid], batch['meta']['category'][valid])
    assert out['loss_cls'].item() == pytest.approx(expected.item(), rel=1e-5)
    hits = (logits[valid].argmax(1) == batch['meta']['category'][valid]).float().mean()
    assert out['acc_cls'].item() == pytest.approx(hits.item())
    out['loss_cls'].backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f'parameters without a gradient (DDP would fail): {no_grad[:5]}'
    batch['meta']['category'] = torch.full((6,), -1)
    zero = model(batch)['loss_cls']
    assert zero.item() == 0.0 and zero.requires_grad


def test_labels_beyond_the_classes_are_a_clear_error():
    batch = make_batch(2)
    batch['meta']['category'] = torch.tensor([0, 5])
    with pytest.raises(ValueError, match='num_classes=3'):
        _classifier()(batch)


def test_fine_tuning_lowers_the_classification_loss():
    model = _classifier()
    batch = make_batch(8, seed=5)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss = model(batch)['loss_cls']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_extract_features_carries_the_logits(tmp_path):
    model = _classifier().eval()
    batches = [make_batch(4, seed=s) for s in (0, 1)]
    for s, batch in enumerate(batches):
        batch['meta']['index'] = torch.arange(4) + 4 * s
        batch['meta']['ids'] = [f'p{i}' for i in batch['meta']['index'].tolist()]
    feats = extract_features(model, batches, kind='fused')
    expected = torch.cat([model.extract_features(b)['logits'] for b in batches]).numpy()
    assert feats['logits'].shape == (8, 3) and feats['logits'].dtype == np.float32
    np.testing.assert_allclose(feats['logits'], expected, rtol=1e-5, atol=1e-6)
    back = load_features(save_features(str(tmp_path / 'f.npz'), feats))
    np.testing.assert_array_equal(back['logits'], feats['logits'])


# ------------------------------------------------------------------ fine-tuning the tiny config on demo data

@pytest.fixture(scope='module')
def fine_tuned(demo_root, tmp_path_factory):
    """A 2-step SCALE pretraining run, then the tiny classifier fine-tuned from it for one epoch."""
    root = tmp_path_factory.mktemp('cls')
    only_checkpoints = [dict(type='CheckpointHook', by_epoch=True, max_keep=1)]
    run_training(PRE_CONFIG, work_dir=str(root / 'pre'), max_steps=2,
                 cfg_options={'data_root': str(demo_root), 'hooks': only_checkpoints})
    trainer = run_training(CLS_CONFIG, work_dir=str(root / 'cls'),
                           cfg_options={'data_root': str(demo_root), 'train_cfg.max_epochs': 1,
                                        'model.init_from': str(root / 'pre')})
    return root, trainer


def test_fine_tuned_classifier_starts_from_the_pretraining_checkpoint(fine_tuned):
    root, trainer = fine_tuned
    model = trainer.accelerator.unwrap_model(trainer.model)
    assert model.init_report.checkpoint.endswith('step_00000002') and len(model.init_report.loaded) > 100
    records = [json.loads(line) for line in (root / 'cls' / 'metrics.jsonl').read_text().splitlines()]
    assert all('loss_cls' in r and 'acc_cls' in r for r in records)
    pre = load_model_state_dict(model.init_report.checkpoint)
    name = 'backbone.encoders.text.backbone.embeddings.word_embeddings.weight'
    assert name in pre and pre[name].shape == model.state_dict()[name].shape


def test_test_time_accuracy_equals_accuracy_from_the_logits(fine_tuned, demo_root):
    root, trainer = fine_tuned
    cfg = load_config(CLS_CONFIG, {'data_root': str(demo_root)})
    model = build_model_for_eval(cfg, root / 'cls')                 # the work dir -> its latest checkpoint
    hits, total = 0, 0
    with torch.no_grad():
        for split in ('query', 'gallery'):
            for batch in split_dataloader(cfg, split):
                logits = model.extract_features(batch)['logits']
                labels = batch['meta']['category']
                hits += int((logits.argmax(1) == labels)[labels >= 0].sum())
                total += int((labels >= 0).sum())
    expected = hits / total
    assert trainer.messages.info('eval_results')['classification']['accuracy'] == pytest.approx(expected)
    saved = json.loads((root / 'cls' / 'results.json').read_text())
    assert saved['classification']['accuracy'] == pytest.approx(expected)
    # tools/test.py's library path scores the same logits (no linear probe, no train split)
    results, out = evaluate_checkpoint(cfg, root / 'cls', work_dir=root / 'test', tasks=('classification',))
    assert results['classification']['accuracy'] == pytest.approx(expected)
    info = json.loads((out / 'test_info.json').read_text())
    assert info['classification'] == 'logits' and 'train' not in info['num_samples']
