"""FrozenConcatModel on the packaged real towers: the joint vector by hand, nothing trains, evaluation without
weights."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from m5mm.datasets.loaders import build_dataset
from m5mm.evaluation.evaluate_checkpoint import evaluate_checkpoint
from m5mm.models.param_budget import build_model_from_config
from m5mm.utils.config import load_config
from tests.conftest import REPO

ALL = REPO / 'configs' / 'frozen_concat_packaged.py'
TEXT_IMAGE = REPO / 'configs' / 'frozen_concat_packaged_text_image.py'


def _config(path, demo_root, packaged_root):
    return load_config(str(path), {'data_root': str(demo_root), 'pretrained_root': str(packaged_root),
                                   'test_dataloader.num_workers': 0, 'test_dataloader.batch_size': 16,
                                   'train_dataloader.num_workers': 0})


@pytest.fixture(scope='module')
def model_and_batch(demo_root, packaged_root):
    cfg = _config(ALL, demo_root, packaged_root)
    dataset = build_dataset(cfg.test_dataloader.dataset)
    model = build_model_from_config(cfg, dataset.meta)
    batch = dataset.collate([dataset[i] for i in range(3)])
    batch['image']['present'][1] = False   # absent modalities: zero blocks
    batch['video']['present'][0] = False
    batch['table']['present'][2] = False
    return model, batch


def _unit(vectors, present):
    return F.normalize(vectors, dim=-1) * present[:, None].float()


def _masked_mean(hidden, mask):
    mask = mask.float()[..., None]
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1)


def _by_hand(model, batch):
    """Each tower's own pooled output: timm's pre-logits (global average) for EfficientNet, mean over real
    frames for video, the attention-masked mean of MiniLM's last hidden states (sentence-transformers)."""
    cnn = model.encoders['image'].backbone
    bert = model.encoders['text'].backbone
    with torch.no_grad():
        image = cnn.forward_head(cnn.forward_features(batch['image']['pixels']), pre_logits=True)
        frames, valid = batch['video']['frames'], batch['video']['frame_mask'].bool()
        per_frame = cnn.forward_head(cnn.forward_features(frames.flatten(0, 1)), pre_logits=True)
        video = _masked_mean(per_frame.unflatten(0, frames.shape[:2]), valid)
        text = batch['text']
        title = _masked_mean(bert(input_ids=text['input_ids'], attention_mask=text['attention_mask'].long())
                             .last_hidden_state, text['attention_mask'].bool())
        table = batch['table']
        attrs = _masked_mean(bert(input_ids=table['input_ids'], attention_mask=table['attention_mask'].long(),
                                  token_type_ids=table['token_type_ids']).last_hidden_state,
                             table['attention_mask'].bool())
    vectors = dict(image=image, video=video, text=title, table=attrs)
    return {m: _unit(vectors[m], batch[m]['present'].bool()) for m in model.modalities}


def test_the_joint_is_the_concat_of_each_towers_normalised_pooled_output(model_and_batch):
    model, batch = model_and_batch
    assert model.modalities == ['image', 'text', 'table', 'video']   # no audio: no packaged audio tower
    out = model.extract_features(batch)
    expected = _by_hand(model, batch)
    assert {m: v.shape[1] for m, v in expected.items()} == dict(image=1280, text=384, table=384, video=1280)
    torch.testing.assert_close(out['joint'], torch.cat([expected[m] for m in model.modalities], 1),
                               rtol=1e-4, atol=1e-5)
    assert out['joint'][1, :1280].abs().sum() == 0 and out['joint'][0, -1280:].abs().sum() == 0
    norms = torch.stack([out['pooled'][m].norm(dim=1) for m in model.modalities], 1)
    present = torch.stack([batch[m]['present'] for m in model.modalities], 1).float()
    torch.testing.assert_close(norms, present)   # unit blocks where present, zero where absent


def test_nothing_trains(model_and_batch):
    model, _ = model_and_batch
    assert sum(p.numel() for p in model.parameters()) > 20_000_000   # the real towers are there
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.train().training
    assert model.encoders['table'].backbone is model.encoders['text'].backbone   # one MiniLM


def test_the_text_image_config_and_its_evaluation_without_weights(demo_root, packaged_root, tmp_path):
    cfg = _config(TEXT_IMAGE, demo_root, packaged_root)
    results, out = evaluate_checkpoint(cfg, 'none', work_dir=tmp_path, tasks=['retrieval'])
    assert out == tmp_path and (tmp_path / 'results.json').is_file()
    values = [v for v in _numbers(results)]
    assert values and all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values)
    assert any(v > 0 for v in values)


def _numbers(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _numbers(value)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield float(node)


def test_no_weights_is_refused_for_a_model_that_needs_them(demo_root, tmp_path):
    cfg = load_config(str(REPO / 'configs' / 'scale_5mod_tiny.py'), {'data_root': str(demo_root)})
    with pytest.raises(ValueError, match='only for a model that needs no trained weights'):
        evaluate_checkpoint(cfg, 'none', work_dir=tmp_path, tasks=['retrieval'])
