"""Input sizes are written once, in the pipelines: the dataset meta's ``inputs`` carry them to the encoders."""
import pytest

from m5mm.datasets import ManifestDataset
from m5mm.datasets.sample_builder import config_input_meta
from m5mm.datasets.transforms.compose import Compose
from m5mm.models.param_budget import build_model_from_config, fake_data_meta
from m5mm.utils.config import load_config


def test_pipeline_output_meta_merges_in_order():
    pipeline = Compose(transforms=[dict(type='LoadImage', draft_size=64), dict(type='ResizeImage', size=48),
                                   dict(type='ResizeImage', size=(32, 40)), dict(type='NormalizeImage')])
    assert pipeline.output_meta() == {'image_size': [32, 40]}
    assert Compose(transforms=[dict(type='SampleVideoFrames', num_frames=2, size=16)]).output_meta() == \
        {'image_size': 16}
    assert Compose(transforms=[dict(type='LoadAudioMel', n_mels=40)]).output_meta() == {'n_mels': 40}


def test_dataset_meta_reports_the_pipeline_sizes_as_the_config_alone_does(demo_root, tiny_config):
    cfg = load_config(tiny_config, {'data_root': str(demo_root)})
    dataset_cfg = dict(cfg.train_dataloader.dataset)
    dataset = ManifestDataset(data_root=str(demo_root), split='train', modalities=dataset_cfg['modalities'],
                              tokenizer=None)
    expected = {'image': {'image_size': 64}, 'video': {'image_size': 64}, 'audio': {'n_mels': 80}}
    assert dataset.meta['inputs'] == expected
    assert config_input_meta(dataset_cfg['modalities']) == expected
    feature_only = dict(dataset_cfg['modalities'], image=dict(source='feature'))
    assert 'image' not in config_input_meta(feature_only)


def test_encoders_follow_a_size_changed_only_in_the_pipeline(tiny_config):
    cfg = load_config(tiny_config, {
        'train_dataloader.dataset.modalities.image.pipeline': [
            dict(type='LoadImage'), dict(type='ResizeImage', size=96), dict(type='NormalizeImage')],
        'train_dataloader.dataset.modalities.video.pipeline': [dict(type='SampleVideoFrames', num_frames=4, size=128)],
        'train_dataloader.dataset.modalities.audio.pipeline': [dict(type='LoadAudioMel', n_mels=64)]})
    encoders = build_model_from_config(cfg).backbone.encoders
    assert encoders['image'].grid == 96 // 16
    assert encoders['video'].frame_encoder.grid == 128 // 32
    assert encoders['audio'].n_mels == 64 and encoders['audio'].embed.in_features == 16 * 64
    default = build_model_from_config(tiny_config).backbone.encoders
    assert default['image'].grid == 64 // 16 and default['audio'].n_mels == 80


def test_a_size_set_in_the_model_config_wins(tiny_config):
    cfg = load_config(tiny_config, {'model.encoders.image.image_size': 32})
    assert fake_data_meta(cfg)['inputs']['image'] == {'image_size': 64}
    assert build_model_from_config(cfg).backbone.encoders['image'].grid == 32 // 16


def test_a_non_square_pipeline_size_gets_a_clear_error(tiny_config):
    cfg = load_config(tiny_config, {'train_dataloader.dataset.modalities.image.pipeline': [
        dict(type='LoadImage'), dict(type='ResizeImage', size=(64, 96))]})
    with pytest.raises(ValueError, match='square'):
        build_model_from_config(cfg)
