"""Model folders: save / load round trips, the card, tampered folders, the hub (local cache only)."""
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from m5mm.api import ModelFolderError, ProductEncoder
from m5mm.api.model_folder import CONFIG_FILE, SAFE_PATTERNS, WEIGHTS_FILE, sha256_file

RECORDS = [dict(id='a', text='red sneakers', table=[['color', 'red']]), dict(id='b', text='teapot'),
           dict(id='c', table=[['material', 'glass']])]


@pytest.fixture(scope='module')
def folder_encoder(tiny_model_dir):
    return ProductEncoder.from_pretrained(tiny_model_dir, device='cpu')


def _copy(src, tmp_path):
    return shutil.copytree(src, tmp_path / 'copy')


def _rewrite_config(folder, change):
    config = json.loads((folder / CONFIG_FILE).read_text())
    change(config)
    (folder / CONFIG_FILE).write_text(json.dumps(config))


def test_round_trips_give_identical_outputs(folder_encoder, tiny_work_dir, tmp_path, demo_root):
    from_run = ProductEncoder.from_pretrained(tiny_work_dir, device='cpu')   # latest checkpoint + its config.py
    records = RECORDS + [dict(id='d', image=str(demo_root / 'images' / 'D00000.jpg'))]
    expected = from_run.encode(records, progress=False).features
    np.testing.assert_array_equal(folder_encoder.encode(records, progress=False).features, expected)
    resaved = ProductEncoder.from_pretrained(folder_encoder.save_pretrained(tmp_path / 'again'), device='cpu')
    np.testing.assert_array_equal(resaved.encode(records, progress=False).features, expected)
    assert from_run.fingerprint == folder_encoder.fingerprint == resaved.fingerprint
    assert resaved.evaluation == folder_encoder.evaluation
    assert folder_encoder.categories == from_run.categories and len(folder_encoder.categories) == 12


def test_card_has_data_results_and_the_robustness_table(tiny_model_dir, folder_encoder):
    card = (tiny_model_dir / 'README.md').read_text()
    evaluation = folder_encoder.evaluation
    assert [row['modalities'] for row in evaluation['robustness']] == [['text'], ['image', 'text']]
    assert '## Modality robustness' in card and '| modalities present | coarse mAP@10 |' in card
    for row in evaluation['robustness']:
        coarse = row['retrieval_coarse']['mAP@10']
        assert f"| {' + '.join(row['modalities'])} | {100 * coarse:.2f} |" in card
    assert set(evaluation['results']) == {'retrieval_coarse', 'retrieval_fine', 'zero_shot', 'text_retrieval'}
    assert '| zero_shot |' in card and '| text_retrieval |' in card and '## Training data' in card
    header = next(line for line in card.splitlines() if line.startswith('| task | mAP@1 |'))
    assert [c.strip() for c in header.strip('|').split('|')] == ['task'] + [
        f'{m}@{k}' for m in ('mAP', 'Prec', 'Recall', 'M5Prec') for k in (1, 5, 10, 50, 100)]
    assert 'M5Prec@K = hits in the top K / min(K, #positives)' in card   # what each column means
    assert f"- training records: {evaluation['data']['num_records']}" in card


def test_tampered_and_mismatched_folders_fail_clearly(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path)
    weights = folder / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFolderError, match='does not match the sha256'):
        ProductEncoder.from_pretrained(folder)
    shutil.copyfile(tiny_model_dir / WEIGHTS_FILE, weights)
    (folder / 'tokenizer' / 'tokenizer.json').unlink()
    with pytest.raises(ModelFolderError, match='tokenizer.json is missing'):
        ProductEncoder.from_pretrained(folder)
    shutil.copyfile(tiny_model_dir / 'tokenizer' / 'tokenizer.json', folder / 'tokenizer' / 'tokenizer.json')
    _rewrite_config(folder, lambda c: c['model']['fusion'].update(type='os.system'))
    with pytest.raises(ModelFolderError, match="type 'os.system' is not a registered name"):
        ProductEncoder.from_pretrained(folder)
    shutil.copyfile(tiny_model_dir / CONFIG_FILE, folder / CONFIG_FILE)
    _rewrite_config(folder, lambda c: c['model'].update(_scope_='os'))
    with pytest.raises(ModelFolderError, match="'_scope_' is not allowed"):
        ProductEncoder.from_pretrained(folder)
    shutil.copyfile(tiny_model_dir / CONFIG_FILE, folder / CONFIG_FILE)
    _rewrite_config(folder, lambda c: c['model']['fusion'].update(dim=48))   # weights of another architecture
    with pytest.raises(ModelFolderError, match='does not fit the model'):
        ProductEncoder.from_pretrained(folder)
    _rewrite_config(folder, lambda c: c['files'].update({'../outside': 'x'}))
    with pytest.raises(ModelFolderError, match='outside the folder'):
        ProductEncoder.from_pretrained(folder)
    (folder / CONFIG_FILE).write_text('{not json')
    with pytest.raises(ModelFolderError, match='not valid JSON'):
        ProductEncoder.from_pretrained(folder)
    (tmp_path / 'other').mkdir()
    (tmp_path / 'other' / 'notes.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='not an m5mm model folder'):
        ProductEncoder.from_pretrained(tiny_model_dir).save_pretrained(tmp_path / 'other')


def _rehash(folder, name):
    """Record ``name``'s current sha256 in the config, as an editor re-hashing the folder would."""
    _rewrite_config(folder, lambda c: c['files'].update({name: sha256_file(folder / name)}))


@pytest.mark.parametrize('name', ['tokenizer/tokenizer.json', 'evaluation.json'])
def test_a_json_file_that_is_not_utf8_fails_naming_it(tiny_model_dir, tmp_path, name):
    folder = _copy(tiny_model_dir, tmp_path)
    (folder / name).write_bytes(b'{"title": "caf\xe9"}')   # Latin-1, not UTF-8
    with pytest.raises(ModelFolderError, match='does not match the sha256'):
        ProductEncoder.from_pretrained(folder)
    _rehash(folder, name)   # hashes that agree do not make the file readable
    with pytest.raises(ModelFolderError, match=re.escape(f'{folder / name}: not valid JSON (not UTF-8')):
        ProductEncoder.from_pretrained(folder)


def test_every_file_a_loader_reads_is_listed_and_hashed(tiny_model_dir, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path)
    config = (folder / CONFIG_FILE).read_text()
    assert 'tokenizer/special_tokens_map.json' not in json.loads(config)['files']
    crafted = folder / 'tokenizer' / 'special_tokens_map.json'   # transformers would read it
    crafted.write_text(json.dumps({'pad_token': '[NEW]', 'cls_token': '[SEP]'}))
    with pytest.raises(ModelFolderError, match=re.escape(f'{crafted} is not listed in {CONFIG_FILE}')):
        ProductEncoder.from_pretrained(folder)
    _rehash(folder, 'tokenizer/special_tokens_map.json')   # listed and hashed, but not the trained tokenizer
    with pytest.raises(ModelFolderError, match='the model was trained with') as info:
        ProductEncoder.from_pretrained(folder)
    gives, trained = str(info.value).split('the model was trained with')
    assert "'pad_id': 0," not in gives and "'pad_id': 0," in trained   # [NEW] would have been the padding
    crafted.unlink()
    (folder / CONFIG_FILE).write_text(config)
    (folder / 'pretrained' / '0').mkdir(parents=True)
    _rewrite_config(folder, lambda c: c['modalities']['image']['pipeline'].append(
        dict(type='ProcessImage', pretrained='/elsewhere/clip')))
    step = len(json.loads((folder / CONFIG_FILE).read_text())['modalities']['image']['pipeline']) - 1
    with pytest.raises(ModelFolderError, match=re.escape(f"modalities.image.pipeline[{step}].pretrained = "
                                                         f"'/elsewhere/clip' names a model outside the folder")):
        ProductEncoder.from_pretrained(folder)
    _rewrite_config(folder, lambda c: c.update(pipeline_pretrained={f'image.pipeline.{step}.pretrained':
                                                                    'pretrained/0'}))
    with pytest.raises(ModelFolderError, match='names pretrained folder pretrained/0/, which holds no file it lists'):
        ProductEncoder.from_pretrained(folder)
    (folder / 'pretrained' / '0' / 'config.json').write_text('{}')
    with pytest.raises(ModelFolderError, match=re.escape(f'{folder / "pretrained/0/config.json"} is not listed')):
        ProductEncoder.from_pretrained(folder)
    (folder / CONFIG_FILE).write_text(config)
    _rewrite_config(folder, lambda c: c.update(pretrained={'encoders.image.pretrained': '../elsewhere'}))
    with pytest.raises(ModelFolderError, match="pretrained folder '../elsewhere', which is outside the folder"):
        ProductEncoder.from_pretrained(folder)


def test_a_folder_without_pipeline_pretrained_still_loads(tiny_model_dir, folder_encoder, tmp_path):
    folder = _copy(tiny_model_dir, tmp_path)   # as written before pipelines' pretrained models were copied in
    _rewrite_config(folder, lambda c: c.pop('pipeline_pretrained', None))
    loaded = ProductEncoder.from_pretrained(folder, device='cpu')
    np.testing.assert_array_equal(loaded.encode(RECORDS, progress=False).features,
                                  folder_encoder.encode(RECORDS, progress=False).features)


def test_hub_ids_resolve_through_the_local_cache(tiny_model_dir, folder_encoder, tmp_path, monkeypatch):
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)
    commit = '0123456789abcdef0123456789abcdef01234567'
    repo = tmp_path / 'cache' / 'models--shop--tiny-scale'
    snapshot = repo / 'snapshots' / commit   # as huggingface_hub stores it: links to content-named blobs
    for path in sorted(p for p in tiny_model_dir.rglob('*') if p.is_file()):
        blob = repo / 'blobs' / sha256_file(path)
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, blob)
        link = snapshot / path.relative_to(tiny_model_dir)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    (repo / 'refs').mkdir()
    (repo / 'refs' / 'main').write_text(commit)
    loaded = ProductEncoder.from_pretrained('shop/tiny-scale', cache_dir=str(tmp_path / 'cache'), device='cpu')
    assert loaded.source == 'shop/tiny-scale'
    np.testing.assert_array_equal(loaded.encode(RECORDS, progress=False).features,
                                  folder_encoder.encode(RECORDS, progress=False).features)
    with pytest.raises(FileNotFoundError, match='shop/missing'):
        ProductEncoder.from_pretrained('shop/missing', cache_dir=str(tmp_path / 'cache'))


class RecordingHubApi:
    """Stands in for huggingface_hub.HfApi (no network in tests): records what would be uploaded."""

    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(('create_repo', repo_id, kwargs))

    def upload_folder(self, *, folder_path, **kwargs):
        files = sorted(p.relative_to(folder_path).as_posix() for p in Path(folder_path).rglob('*') if p.is_file())
        self.calls.append(('upload_folder', files, kwargs))
        return type('Info', (), {'commit_url': 'https://hub/commit/1'})()


def test_push_to_hub_uploads_the_model_folder(folder_encoder):
    api = RecordingHubApi()
    assert folder_encoder.push_to_hub('shop/tiny-scale', api=api) == 'https://hub/commit/1'
    (create, repo, create_kwargs), (upload, files, kwargs) = api.calls
    assert create == 'create_repo' and repo == 'shop/tiny-scale' and create_kwargs['exist_ok']
    assert {CONFIG_FILE, WEIGHTS_FILE, 'README.md', 'evaluation.json', 'tokenizer/tokenizer.json'} <= set(files)
    assert kwargs['repo_id'] == 'shop/tiny-scale' and kwargs['allow_patterns'] == SAFE_PATTERNS


def test_weights_hash_and_state(tiny_model_dir, folder_encoder):
    config = json.loads((tiny_model_dir / CONFIG_FILE).read_text())
    assert config['files'][WEIGHTS_FILE] == sha256_file(tiny_model_dir / WEIGHTS_FILE)
    from safetensors.torch import load_file
    stored = load_file(str(tiny_model_dir / WEIGHTS_FILE))
    state = folder_encoder.model.state_dict()
    assert set(stored) <= set(state) and len(stored) < len(state)   # the shared text/table BERT is stored once
    assert all(torch.equal(stored[k], state[k]) for k in stored)
