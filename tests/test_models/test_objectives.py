"""Objectives' loss computations against straightforward reference computations (python loops)."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from m5mm.registry import HEADS, OBJECTIVES
from m5mm.structures import EncoderOutput

ORDER = ['text', 'image', 'table', 'audio']
TOKENIZER = dict(vocab_size=50, pad_id=0, cls_id=2, sep_id=3, mask_id=4)
META = dict(tokenizer=TOKENIZER)


def _contrastive_inputs(batch=6, dim=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    emb = {m: torch.randn(batch, dim, generator=gen) for m in ORDER}
    present = {'text': torch.ones(batch, dtype=torch.bool),
               'image': torch.tensor([1, 1, 0, 1, 1, 0], dtype=torch.bool)[:batch],
               'table': torch.tensor([1, 0, 1, 1, 0, 1], dtype=torch.bool)[:batch],
               'audio': torch.tensor([0, 0, 1, 0, 0, 0], dtype=torch.bool)[:batch]}   # one sample: no pair
    weights = torch.rand(batch, 4, 4, generator=gen) + 0.5
    return emb, present, weights


def _cos(a, b):
    return float(torch.dot(a, b) / (a.norm() * b.norm()))


def _contrastive_reference(emb, present, weights, temperature, mode):
    """Loops over pairs, directions and samples."""
    pair_losses = []
    for i in range(len(ORDER)):
        for j in range(i + 1, len(ORDER)):
            mi, mj = ORDER[i], ORDER[j]
            valid = [b for b in range(len(present[mi])) if present[mi][b] and present[mj][b]]
            if len(valid) < 2:
                continue
            total = 0.0
            for qa, ka, wi, wj in ((mi, mj, i, j), (mj, mi, j, i)):
                for b in valid:
                    w = float(weights[b, wi, wj]) if weights is not None else 1.0
                    scale = w if mode == 'logits' else 1.0
                    logits = [scale * _cos(emb[qa][b], emb[ka][c]) / temperature for c in valid]
                    lse = math.log(sum(math.exp(x) for x in logits))
                    ce = lse - logits[valid.index(b)]
                    total += ce * (w if mode == 'loss' else 1.0)
            pair_losses.append(total / (2 * len(valid)))
    return sum(pair_losses) / len(pair_losses)


@pytest.mark.parametrize('mode', ['logits', 'loss'])
@pytest.mark.parametrize('with_weights', [True, False])
def test_contrastive_matches_reference(mode, with_weights):
    emb, present, weights = _contrastive_inputs()
    weights = weights if with_weights else None
    loss_fn = OBJECTIVES.build(dict(type='InterModalityContrastiveObjective', temperature=0.1, weight_mode=mode))
    out = loss_fn.compute(emb, present, weights)
    expected = _contrastive_reference(emb, present, weights, 0.1, mode)
    assert out['loss_con'].item() == pytest.approx(expected, rel=1e-5)
    assert set(out) >= {'acc_con_text_image', 'con_text_table', 'acc_con_table_audio'}
    assert out['acc_con_table_audio'].item() == 0.0


def test_contrastive_ignores_absent_rows_and_columns():
    emb, present, weights = _contrastive_inputs()
    for e in emb.values():
        e.requires_grad_(True)
    loss_fn = OBJECTIVES.build(dict(type='InterModalityContrastiveObjective'))
    out = loss_fn.compute(emb, present, weights)
    changed = {m: e.detach().clone() for m, e in emb.items()}
    changed['image'][2] = torch.randn(5) * 10     # sample 2 has no image
    changed['table'][4] = torch.randn(5) * 10     # sample 4 has no table
    torch.testing.assert_close(loss_fn.compute(changed, present, weights)['loss_con'], out['loss_con'].detach())
    out['loss_con'].backward()
    assert torch.all(emb['image'].grad[2] == 0) and torch.all(emb['table'].grad[4] == 0)
    assert emb['audio'].grad is not None and torch.all(emb['audio'].grad == 0)   # in the graph, no signal


def test_contrastive_with_no_valid_pair_is_zero_in_graph():
    emb = {m: torch.randn(3, 4, requires_grad=True) for m in ('text', 'image')}
    present = {'text': torch.tensor([True, False, False]), 'image': torch.tensor([True, True, False])}
    out = OBJECTIVES.build(dict(type='InterModalityContrastiveObjective')).compute(emb, present)
    assert out['loss_con'].item() == 0.0
    out['loss_con'].backward()
    assert emb['text'].grad is not None


def test_contrastive_learnable_temperature_and_pairs():
    emb, present, weights = _contrastive_inputs()
    loss_fn = OBJECTIVES.build(dict(type='InterModalityContrastiveObjective', temperature=0.5,
                                    learnable_temperature=True, pairs=[('image', 'text')], loss_weight=2.0))
    out = loss_fn.compute(emb, present, None)
    valid = [b for b in range(6) if present['image'][b]]
    sub = {m: emb[m][valid] for m in ('text', 'image')}
    ref_loss = OBJECTIVES.build(dict(type='InterModalityContrastiveObjective', temperature=0.5))
    expected = ref_loss.compute(sub, {m: torch.ones(len(valid), dtype=torch.bool) for m in sub})['loss_con']
    torch.testing.assert_close(out['loss_con'], 2.0 * expected)
    assert list(k for k in out if k.startswith('acc')) == ['acc_con_text_image']
    out['loss_con'].backward()
    assert loss_fn.log_scale.grad is not None
    assert out['con_temperature'].item() == pytest.approx(0.5)
    with torch.no_grad():
        loss_fn.log_scale.fill_(10.0)
    assert loss_fn.temperature.item() == pytest.approx(0.01)


# ----------------------------------------------------------------------------- MLM / MEM


def _text_inputs(batch=64, length=200, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, TOKENIZER['vocab_size'], (batch, length), generator=gen)
    ids[:, 0] = TOKENIZER['cls_id']
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[1, 100:] = False
    ids[1, 100:] = TOKENIZER['pad_id']
    ids[:, -1] = TOKENIZER['sep_id']
    present = torch.ones(batch, dtype=torch.bool)
    present[min(2, batch - 1)] = False
    return {'input_ids': ids, 'attention_mask': mask, 'present': present}


def _lm_head(dim=8):
    embedding = nn.Embedding(TOKENIZER['vocab_size'], 6)
    return HEADS.build(dict(type='MaskedTokenHead', dim=dim, vocab_size=TOKENIZER['vocab_size'],
                            embedding=embedding)), embedding


def _mlm(kind='MaskedLanguageModelObjective', modality='text', head=None, **kwargs):
    """An MLM-family objective built without a backbone: its head is given."""
    return OBJECTIVES.build(dict(type=kind, modality=modality, data_meta=META, head=head or _lm_head()[0],
                                 **kwargs))


def test_mlm_masking_statistics():
    inputs = _text_inputs()
    loss_fn = _mlm()
    torch.manual_seed(0)
    masked, labels = loss_fn.mask_inputs(inputs)
    chosen = labels != -100
    ids, new = inputs['input_ids'], masked['input_ids']
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(new[~chosen], ids[~chosen])                       # nothing else changes
    cand = inputs['attention_mask'] & inputs['present'][:, None] & (ids > 4)
    assert not chosen[~cand].any()                                        # specials, padding, absent samples
    ratio = chosen.sum().item() / cand.sum().item()
    assert abs(ratio - 0.15) < 0.01
    n = chosen.sum().item()
    as_mask = (new[chosen] == 4).sum().item() / n
    kept = (new[chosen] == ids[chosen]).sum().item() / n
    randomised = 1 - as_mask - kept
    assert abs(as_mask - 0.8) < 0.02 and abs(randomised - 0.1 * (1 - 1 / 50)) < 0.02 \
        and abs(kept - 0.1 - 0.1 / 50) < 0.02
    gen_a, gen_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(loss_fn.mask_inputs(inputs, gen_a)[1], loss_fn.mask_inputs(inputs, gen_b)[1])


@pytest.mark.parametrize('mode', ['logits', 'loss'])
def test_mlm_loss_matches_reference(mode):
    torch.manual_seed(1)
    inputs = _text_inputs(batch=4, length=30)
    head, embedding = _lm_head()
    loss_fn = _mlm(head=head, weight_mode=mode)
    _, labels = loss_fn.mask_inputs(inputs)
    tokens = torch.randn(4, 30, 8)
    weight = torch.tensor([0.5, 1.0, 2.0, 1.5])
    enc = EncoderOutput(tokens=tokens, mask=inputs['attention_mask'], pooled=tokens[:, 0],
                        present=inputs['present'])
    out = loss_fn.score(tokens=tokens, encoded=enc, labels=labels, weight=weight)
    losses, hits = [], 0
    for b in range(4):
        for t in range(30):
            if labels[b, t] == -100:
                continue
            logits = head(tokens[b, t])
            if mode == 'logits':
                logits = logits * weight[b]
            ce = F.cross_entropy(logits[None], labels[b, t][None])
            losses.append(ce * (weight[b] if mode == 'loss' else 1.0))
            hits += int(logits.argmax() == labels[b, t])
    torch.testing.assert_close(out['loss_mlm'], torch.stack(losses).mean())
    assert out['acc_mlm'].item() == pytest.approx(hits / len(losses))
    out['loss_mlm'].backward()
    assert embedding.weight.grad is not None and embedding.weight.grad.abs().sum() > 0   # tied


def test_masked_losses_without_masked_positions_are_zero_with_gradients():
    inputs = _text_inputs(batch=2, length=10)
    head, _ = _lm_head()
    loss_fn = _mlm(head=head)
    tokens = torch.randn(2, 10, 8)
    labels = torch.full((2, 10), -100)
    enc = EncoderOutput(tokens=tokens, mask=inputs['attention_mask'], pooled=tokens[:, 0],
                        present=inputs['present'])
    out = loss_fn.score(tokens=tokens, encoded=enc, labels=labels)
    assert out['loss_mlm'].item() == 0.0
    out['loss_mlm'].backward()
    assert all(p.grad is not None for p in head.parameters())

    reg_head = HEADS.build(dict(type='FeatureRegressionHead', dim=8, out_dim=3))
    reg = OBJECTIVES.build(dict(type='MaskedFeatureRegressionObjective', modality='image', head=reg_head))
    enc = EncoderOutput(tokens=tokens, mask=torch.ones(2, 10, dtype=torch.bool), pooled=tokens[:, 0],
                        present=torch.ones(2, dtype=torch.bool), targets=torch.randn(2, 10, 3),
                        masked=torch.zeros(2, 10, dtype=torch.bool))
    out = reg.score(tokens=tokens, encoded=enc)
    assert out['loss_mfm_image'].item() == 0.0
    out['loss_mfm_image'].backward()
    assert all(p.grad is not None for p in reg_head.parameters())


def test_mlm_needs_tokenizer_ids():
    with pytest.raises(ValueError, match='mask_id'):
        OBJECTIVES.build(dict(type='MaskedLanguageModelObjective', modality='text',
                              data_meta=dict(tokenizer=dict(vocab_size=10, pad_id=0, cls_id=1, sep_id=2))))
    with pytest.raises(KeyError, match='modality'):   # a masked objective names its modality
        OBJECTIVES.get('MaskedLanguageModelObjective').required_modalities({})


def _table_inputs(batch=200, seed=0):
    """[CLS] then pairs of (2 key tokens, 3 value tokens), [SEP], padding."""
    gen = torch.Generator().manual_seed(seed)
    length, n_pairs = 1 + 5 * 6 + 1 + 3, 6
    ids = torch.randint(5, 50, (batch, length), generator=gen)
    token_type = torch.zeros(batch, length, dtype=torch.long)
    pair_ids = torch.full((batch, length), -1)
    for p in range(n_pairs):
        start = 1 + 5 * p
        pair_ids[:, start:start + 5] = p
        token_type[:, start + 2:start + 5] = 1
    ids[:, 0], ids[:, 31] = TOKENIZER['cls_id'], TOKENIZER['sep_id']
    ids[:, 32:] = TOKENIZER['pad_id']
    mask = ids != TOKENIZER['pad_id']
    present = torch.ones(batch, dtype=torch.bool)
    present[0] = False
    return {'input_ids': ids, 'attention_mask': mask, 'token_type_ids': token_type, 'pair_ids': pair_ids,
            'present': present}


def test_mem_masks_whole_keys_or_values():
    inputs = _table_inputs()
    loss_fn = _mlm('MaskedEntityModelObjective', 'table')
    torch.manual_seed(0)
    masked, labels = loss_fn.mask_inputs(inputs)
    chosen = labels != -100
    assert not chosen[0].any()                              # absent sample
    assert torch.equal(masked['input_ids'][chosen], torch.full_like(labels[chosen], 4))
    n_chosen = n_values = 0
    for b in range(1, 200):
        for p in range(6):
            sel = chosen[b][inputs['pair_ids'][b] == p]
            key, value = sel[:2], sel[2:]
            assert (key.all() or not key.any()) and (value.all() or not value.any())
            assert not (key.any() and value.any())
            n_chosen += int(sel.any())
            n_values += int(value.any())
    assert abs(n_chosen / (199 * 6) - 0.15) < 0.03
    assert abs(n_values / n_chosen - 0.5) < 0.1
    assert not chosen[inputs['pair_ids'] < 0].any()


# ----------------------------------------------------------------------------- feature regression


@pytest.mark.parametrize('mode', ['logits', 'loss'])
def test_feature_regression_matches_reference(mode):
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randn(3, 5, 8, generator=gen)
    targets = torch.randn(3, 5, 4, generator=gen)
    masked = torch.rand(3, 5, generator=gen) < 0.5
    masked[:, 0] = False
    masked[0, 1] = True
    present = torch.tensor([True, False, True])
    mask = present[:, None].expand(3, 5).clone()
    mask[2, 4] = False
    weight = torch.tensor([0.5, 3.0, 2.0])
    enc = EncoderOutput(tokens=tokens, mask=mask, pooled=tokens[:, 0], present=present, targets=targets,
                        masked=masked)
    head = HEADS.build(dict(type='FeatureRegressionHead', dim=8, out_dim=4))
    loss_fn = OBJECTIVES.build(dict(type='MaskedFeatureRegressionObjective', modality='video', weight_mode=mode,
                                    name='mvm', head=head))
    out = loss_fn.score(tokens=tokens, encoded=enc, weight=weight)
    terms = []
    for b in range(3):
        for n in range(5):
            if masked[b, n] and present[b] and mask[b, n]:
                pred = head(tokens[b, n]) * (weight[b] if mode == 'logits' else 1.0)
                mse = ((pred - targets[b, n]) ** 2).mean()
                terms.append(mse * (weight[b] if mode == 'loss' else 1.0))
    torch.testing.assert_close(out['loss_mvm'], torch.stack(terms).mean())
    assert loss_fn.encoder_mask_ratio == 0.15


def test_contrastive_mean_one_weights_keeps_the_temperature():
    """Harmonizer weights of mean w scale the logits like a temperature T / w (issue 22: ~0.15 on real
    towers); ``mean_one_weights`` divides them by their mean over the valid pairs, so uniform weights of any
    level give the unweighted loss and the relative weights stay."""
    emb, present, _ = _contrastive_inputs()
    order = list(emb)
    pres = torch.stack([present[m] for m in order], dim=1)
    pairs = (pres[:, :, None] & pres[:, None, :]).float()
    plain = OBJECTIVES.build(dict(type='InterModalityContrastiveObjective', temperature=0.1))
    scaled = OBJECTIVES.build(dict(type='InterModalityContrastiveObjective', temperature=0.1, mean_one_weights=True))
    unweighted = plain.compute(emb, present, None)['loss_con']
    torch.testing.assert_close(scaled.compute(emb, present, 0.15 * pairs)['loss_con'], unweighted)
    assert abs(plain.compute(emb, present, 0.15 * pairs)['loss_con'].item() - unweighted.item()) > 0.1
    _, _, weights = _contrastive_inputs()
    valid = (pairs.bool() & ~torch.eye(len(order), dtype=torch.bool))
    mean = weights[valid].mean()
    expected = _contrastive_reference(emb, present, weights / mean, 0.1, 'logits')
    assert scaled.compute(emb, present, weights)['loss_con'].item() == pytest.approx(expected, rel=1e-5)
