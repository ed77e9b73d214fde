"""tools/cache_features.py: frozen towers run once; training on the cache computes what live towers do."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from m5mm.datasets.feature_record import FeatureCacheMismatch
from m5mm.engine.builder import build_model
from m5mm.datasets.loaders import build_dataset
from m5mm.evaluation.feature_cache import cache_features, feature_file
from m5mm.models.encoders import EncoderInputError
from m5mm.utils.config import load_config

REPO = Path(__file__).resolve().parents[2]
LIVE = str(REPO / 'configs' / 'scale_5mod_pretrained_tiny.py')
CACHED = str(REPO / 'configs' / 'scale_5mod_pretrained_tiny_cached.py')
TOWERS = ('image', 'video', 'audio')


def _configs(root, tiny_pretrained):
    options = {'data_root': str(root), 'pretrained_root': str(tiny_pretrained)}
    return load_config(LIVE, options), load_config(CACHED, options)


def test_the_cache_holds_every_frozen_towers_tokens_with_a_record(cached_root):
    out = cached_root / 'features'
    records = [json.loads(line) for line in (out / 'manifest.jsonl').read_text().splitlines()]
    source = [json.loads(line) for line in (cached_root / 'manifest.jsonl').read_text().splitlines()]
    assert [r['id'] for r in records] == [r['id'] for r in source]
    for record in records:
        for m in TOWERS:
            expected = f'features/{m}/{feature_file(record["id"])}' if record.get(m) else None
            assert record[f'{m}_feat'] == expected
            if expected:
                assert (cached_root / expected).is_file()
    for m in TOWERS:
        record = json.loads((out / m / 'cache_record.json').read_text())
        assert record['modality'] == m and record['dtype'] == 'float32' and record['feat_dim'] == 32
        assert record['fingerprint'] and 'Process' in record['pipeline']


def test_a_second_run_keeps_what_is_cached(cached_root, tiny_pretrained):
    live, _ = _configs(cached_root, tiny_pretrained)
    summary = cache_features(live, str(cached_root / 'features'), modalities=['audio'], dtype='float32',
                             num_workers=0)
    assert summary['counts']['audio']['written'] == 0 and summary['counts']['audio']['kept'] > 0


def _losses(cfg, dataset, state, indices, bf16: bool) -> dict:
    torch.manual_seed(0)
    model = build_model(cfg.model, dataset.meta)
    model.load_state_dict(state)
    model.train()
    batch = dataset.collate([dataset[i] for i in indices])
    torch.manual_seed(1)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        return {k: float(v) for k, v in model(batch).items() if k.startswith('loss')}


@pytest.mark.parametrize('bf16', [False, True])
def test_training_on_the_cache_gives_the_live_towers_loss(request, tiny_pretrained, bf16):
    """Like with like: under bf16 autocast the cache is written by towers under bf16 autocast too.

    A cache written in fp32 and read by a bf16 model is not what live bf16 towers compute: the towers'
    outputs differ by bf16 rounding, which the masked-feature regression losses amplify by a factor
    that depends on the CPU's bf16 kernels (AVX-512 BF16 vs AMX vs emulated). Written under the same
    autocast, the cached outputs are the live ones up to the accumulation order a batch shape selects.
    """
    cached_root = request.getfixturevalue('cached_root_bf16' if bf16 else 'cached_root')
    live_cfg, cached_cfg = _configs(cached_root, tiny_pretrained)
    live_data = build_dataset(live_cfg.train_dataloader.dataset)
    cached_data = build_dataset(cached_cfg.train_dataloader.dataset)
    assert cached_data.meta['sources'] == dict(image='feature', text='raw', table='raw', video='feature',
                                               audio='feature')
    torch.manual_seed(0)
    state = build_model(live_cfg.model, live_data.meta).state_dict()
    indices = list(range(8))
    live = _losses(live_cfg, live_data, state, indices, bf16)
    cached = _losses(cached_cfg, cached_data, state, indices, bf16)
    assert live.keys() == cached.keys() and {'loss_mfm_image', 'loss_mfm_video', 'loss_mfm_audio'} <= set(live)
    # fp32: the same numbers up to summation order; bf16: a tower output may land one bf16 step
    # (2**-8 relative) away when another batch shape picks another kernel.
    tolerance = 2 ** -8 if bf16 else 1e-5
    for key in live:
        assert cached[key] == pytest.approx(live[key], rel=tolerance, abs=tolerance), key


def test_features_of_another_model_fail_clearly(cached_root, tiny_pretrained):
    _, cached_cfg = _configs(cached_root, tiny_pretrained)
    dataset_cfg = cached_cfg.train_dataloader.dataset
    dataset_cfg.modalities.image.pipeline[0].pretrained = str(tiny_pretrained / 'vit')  # cached with clip
    dataset = build_dataset(dataset_cfg)
    index = next(i for i, r in enumerate(dataset.records) if r['fields']['image'])
    with pytest.raises(FeatureCacheMismatch, match="made by .*clip.* but the config uses .*vit"):
        dataset[index]


def test_a_tower_refuses_features_of_another_width(tiny_pretrained):
    from m5mm.models.encoders import PretrainedImageEncoder
    tower = PretrainedImageEncoder(pretrained=str(tiny_pretrained / 'vit'), freeze=True, dim=16, num_heads=2)
    with pytest.raises(EncoderInputError, match='do not come from this model, whose tokens have width 32'):
        tower({'feats': torch.zeros(2, 5, 48), 'feat_mask': torch.ones(2, 5, dtype=torch.bool),
               'present': torch.ones(2, dtype=torch.bool)})
    trainable = PretrainedImageEncoder(pretrained=str(tiny_pretrained / 'vit'), dim=16, num_heads=2)
    with pytest.raises(EncoderInputError, match='backbone trains'):
        trainable({'feats': torch.zeros(2, 5, 32), 'present': torch.ones(2, dtype=torch.bool)})


def test_caching_needs_a_frozen_tower_and_an_output_inside_the_data_root(cached_root, tiny_pretrained, tmp_path):
    live, cached = _configs(cached_root, tiny_pretrained)
    with pytest.raises(ValueError, match='must be inside the data root'):
        cache_features(live, str(tmp_path / 'elsewhere'))
    with pytest.raises(ValueError, match=r"\['text'\] have no frozen pretrained tower"):
        cache_features(live, str(cached_root / 'features'), modalities=['text'])
    with pytest.raises(ValueError, match='read from features in this config'):
        cache_features(cached, str(cached_root / 'features2'))
    assert not os.path.exists(cached_root / 'features2')
