"""Preprocessing that follows the pretrained model: image / video / audio from its processor files,
titles through its own tokenizer, and cached features checked against the configured model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from m5mm.datasets.feature_record import FeatureCacheMismatch, write_record
from m5mm.datasets.transforms import LoadCachedFeature, ProcessAudio, ProcessImage, ProcessVideoFrames
from m5mm.datasets.transforms.normalize_image import normalize


def _demo_file(demo_root, field: str) -> str:
    for line in (demo_root / 'manifest.jsonl').read_text().splitlines():
        record = json.loads(line)
        if record.get(field):
            return str(demo_root / record[field])
    raise AssertionError(f'no {field} in the demo data')


@pytest.mark.parametrize('family', ['clip', 'convnext', 'timm_vit'])
def test_process_image_is_the_models_own_processor(family, tiny_pretrained):
    folder = str(tiny_pretrained / family)
    torch.manual_seed(0)
    image = torch.randint(0, 256, (3, 50, 90), dtype=torch.uint8)
    out = ProcessImage(pretrained=folder)({'pixels': image})['pixels']
    if family == 'timm_vit':
        from timm.data import create_transform, resolve_data_config
        from torchvision.transforms.v2.functional import to_pil_image
        config = json.loads((tiny_pretrained / family / 'config.json').read_text())['pretrained_cfg']
        expected = create_transform(**resolve_data_config(pretrained_cfg=config))(to_pil_image(image))
    else:
        from transformers import AutoImageProcessor
        expected = AutoImageProcessor.from_pretrained(folder)(images=image, return_tensors='pt')['pixel_values'][0]
    assert out.shape == (3, 64, 64) and out.dtype == torch.float32
    torch.testing.assert_close(out, expected)


def test_process_video_frames_uses_the_models_size_statistics_and_frame_count(tiny_pretrained, demo_root):
    path = _demo_file(demo_root, 'video')
    native = ProcessVideoFrames(pretrained=str(tiny_pretrained / 'videomae'))
    frames = native({'path': path})['frames']
    assert native.num_frames == 4 and frames.shape == (4, 3, 64, 64)
    from m5mm.datasets.transforms.decode import decode_video
    raw = torch.from_numpy(decode_video(path, num_frames=4, size=(64, 64))).permute(0, 3, 1, 2)
    torch.testing.assert_close(frames, normalize(raw, native.spec.mean, native.spec.std))
    per_frame = ProcessVideoFrames(pretrained=str(tiny_pretrained / 'clip'), num_frames=6)
    assert per_frame({'path': path})['frames'].shape == (6, 3, 64, 64)
    assert per_frame.spec.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    with pytest.raises(ValueError, match='video model of 4 frames'):
        ProcessVideoFrames(pretrained=str(tiny_pretrained / 'videomae'), num_frames=8)


@pytest.mark.parametrize('family, width', [('wav2vec2', 320), ('ast', 32), ('whisper', 80)])
def test_process_audio_runs_the_models_feature_extractor(family, width, tiny_pretrained, demo_root):
    transform = ProcessAudio(pretrained=str(tiny_pretrained / family), max_duration=12.0)
    frames = transform({'path': _demo_file(demo_root, 'audio')})['mel']
    assert frames.dim() == 2 and frames.shape[1] == width and torch.isfinite(frames).all()
    if family == 'whisper':  # the tiny Whisper's window is 4 s: longer audio is cut there
        assert transform.max_duration == pytest.approx(4.0)
    if family == 'wav2vec2':  # 2 s demo clips at 16 kHz in chunks of 320 samples, normalised
        assert frames.shape[0] == 100 and abs(float(frames.mean())) < 1e-3


def test_cached_features_of_another_model_are_refused(tiny_pretrained, tmp_path):
    from m5mm.utils.pretrained_source import source_fingerprint
    folder = tmp_path / 'image' / 'ab'
    folder.mkdir(parents=True)
    np.save(folder / 'x.npy', np.ones((5, 32), dtype=np.float16))
    write_record(str(tmp_path / 'image'), dict(pretrained='vit', fingerprint=source_fingerprint(
        str(tiny_pretrained / 'vit'))))
    ok = LoadCachedFeature(pretrained=str(tiny_pretrained / 'vit'))({'path': str(folder / 'x.npy')})
    assert ok['feats'].shape == (5, 32) and ok['feats'].dtype == torch.float32
    with pytest.raises(FeatureCacheMismatch, match="made by 'vit'.*config uses .*clip.*cache them again"):
        LoadCachedFeature(pretrained=str(tiny_pretrained / 'clip'))({'path': str(folder / 'x.npy')})


def test_chinese_titles_go_end_to_end_through_a_multilingual_models_tokenizer(tiny_pretrained, tmp_path):
    from m5mm.datasets import ManifestDataset
    from m5mm.models.encoders import PretrainedTableEncoder, PretrainedTextEncoder
    rows = [dict(id='a', text='新款 纯棉 短袖 T恤', table=[['品牌', 'Orbis'], ['产地', '中国']]),
            dict(id='b', text='无线 蓝牙 耳机', table=[['颜色', 'red']])]
    (tmp_path / 'manifest.jsonl').write_text('\n'.join(json.dumps(r, ensure_ascii=False) for r in rows))
    folder = str(tiny_pretrained / 'xlmr')
    dataset = ManifestDataset(data_root=str(tmp_path), modalities=dict(text=None, table=None),
                              tokenizer=dict(path=folder))
    assert dataset.meta['tokenizer']['cls_id'] == 0 and dataset.meta['tokenizer']['pad_id'] == 1
    batch = dataset.collate([dataset[0], dataset[1]])
    ids = batch['text']['input_ids'][0][batch['text']['attention_mask'][0]].tolist()
    assert dataset.tokenizer.decode(ids[1:-1]).replace(' ', '') == '新款纯棉短袖T恤'
    assert dataset.tokenizer.unk_id not in ids
    meta = dataset.meta['tokenizer']
    text = PretrainedTextEncoder(pretrained=folder, vocab_size=meta['vocab_size'], pad_token_id=meta['pad_id'],
                                 freeze=True)
    table = PretrainedTableEncoder(backbone=text.backbone, vocab_size=meta['vocab_size'],
                                   pad_token_id=meta['pad_id'])
    out_text, out_table = text(batch['text']), table(batch['table'])
    assert out_text.mask.sum(1).tolist() == batch['text']['attention_mask'].sum(1).tolist()
    assert torch.isfinite(out_table.tokens).all() and out_table.tokens.shape[:2] == batch['table']['input_ids'].shape
