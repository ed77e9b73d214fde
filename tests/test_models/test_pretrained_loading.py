"""`pretrained=` resolution and its errors: missing folders, uncached hub ids, models of the wrong modality."""
from __future__ import annotations

import json

import pytest

from m5mm.models.encoders import (PretrainedAudioEncoder, PretrainedImageEncoder, PretrainedTextEncoder,
                                  PretrainedVideoEncoder)
from m5mm.models.pretrained import WrongModalityError
from m5mm.models.pretrained.loading import is_timm_folder
from m5mm.utils.pretrained_source import PretrainedSourceError, resolve_pretrained, source_fingerprint


def test_a_missing_model_folder_is_named(tmp_path):
    with pytest.raises(PretrainedSourceError, match=r"image tower: pretrained model folder '.*/nowhere/vit' does not"):
        PretrainedImageEncoder(pretrained=str(tmp_path / 'nowhere' / 'vit'))


def test_a_hub_id_missing_from_the_cache_names_the_id_and_the_download(monkeypatch, tmp_path):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path / 'hub'))
    with pytest.raises(PretrainedSourceError, match=r"'acme/no-such-model' is not a local folder and not in the "
                                                    r"Hugging Face cache .*hf download acme/no-such-model"):
        resolve_pretrained('acme/no-such-model', what='audio tower')


def test_a_hub_id_found_in_the_cache_resolves_offline(monkeypatch, tmp_path, tiny_pretrained):
    from huggingface_hub.constants import REPO_ID_SEPARATOR
    cache = tmp_path / 'hub'
    repo = cache / f'models{REPO_ID_SEPARATOR}acme{REPO_ID_SEPARATOR}tiny-vit'
    snapshot = repo / 'snapshots' / ('0' * 40)
    snapshot.mkdir(parents=True)
    (repo / 'refs').mkdir()
    (repo / 'refs' / 'main').write_text('0' * 40)
    for f in (tiny_pretrained / 'vit').iterdir():
        (snapshot / f.name).symlink_to(f)
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr('huggingface_hub.constants.HF_HUB_CACHE', str(cache))
    folder = resolve_pretrained('acme/tiny-vit')
    assert folder == str(snapshot)
    tower = PretrainedImageEncoder(pretrained='acme/tiny-vit', freeze=True, dim=16, num_heads=2)
    assert tower.source.fingerprint == source_fingerprint(str(tiny_pretrained / 'vit'))


@pytest.mark.parametrize('tower, family, says', [
    (PretrainedImageEncoder, 'wav2vec2', r"a 'wav2vec2' model \(for audio\); the image tower needs an image model"),
    (PretrainedAudioEncoder, 'vit', r"a 'vit' model \(for image\); the audio tower needs an audio model"),
    (PretrainedTextEncoder, 'clip', r"a 'clip' model \(for image\); the text tower needs a text model"),
    (PretrainedVideoEncoder, 'bert', r"a 'bert' model \(for text\); the video tower needs a video model"),
])
def test_a_model_of_the_wrong_modality_is_refused(tower, family, says, tiny_pretrained):
    with pytest.raises(WrongModalityError, match=says):
        tower(pretrained=str(tiny_pretrained / family))


def test_a_folder_without_a_model_is_clear(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='has no config.json: not a saved model folder'):
        PretrainedImageEncoder(pretrained=str(tmp_path / 'empty'))


def test_timm_folders_are_told_apart(tiny_pretrained):
    assert is_timm_folder(str(tiny_pretrained / 'timm_vit'))
    assert not is_timm_folder(str(tiny_pretrained / 'vit'))
    assert json.loads((tiny_pretrained / 'timm_vit' / 'config.json').read_text())['architecture']


def test_fingerprint_follows_the_weights(tiny_pretrained, tmp_path):
    import shutil
    copy = tmp_path / 'vit'
    shutil.copytree(tiny_pretrained / 'vit', copy)
    assert source_fingerprint(str(copy)) == source_fingerprint(str(tiny_pretrained / 'vit'))
    assert source_fingerprint(str(tiny_pretrained / 'dinov2')) != source_fingerprint(str(copy))


def test_fetching_without_the_hub_names_the_model(monkeypatch, tmp_path):
    from m5mm.models.pretrained.fetch import fetch_pretrained
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr('huggingface_hub.constants.HF_HUB_OFFLINE', True)
    with pytest.raises(PretrainedSourceError, match=r"could not download 'acme/none' \(for image\)"):
        fetch_pretrained({'image': 'acme/none'}, str(tmp_path))
