"""M5ProductDataset: the release layout (meta JSON, pv strings, media folders, .npy features)."""
import json
import shutil

import numpy as np
import pytest

from m5mm.datasets import M5ProductDataset, ManifestError
from m5mm.registry import DATASETS

from .media_files import write_wav

META = {
    'm1': {'title': 'Red cotton T-shirt', 'pv': 'brand#:#Acme#;#color#:#red', 'label': 'clothing'},
    'm2': {'title': 'Steel bottle', 'pv': '', 'label': 'kitchen', 'instance': 'sku-9'},
    'm3': {'title': 'Wool scarf', 'pv': 'material#:#wool', 'label': 'clothing', 'split': 'val'},
    'm4': {'title': '', 'pv': 'size#:#M', 'label': 'accessories'},
}


@pytest.fixture
def m5_root(data_root, tmp_path):
    root = tmp_path / 'm5'
    (root / 'image').mkdir(parents=True)
    (root / 'video').mkdir()
    (root / 'audio').mkdir()
    shutil.copy(data_root / 'images/p0.jpg', root / 'image/m1.jpg')
    shutil.copy(data_root / 'images/p4.png', root / 'image/m2.png')
    shutil.copy(data_root / 'videos/p0.mp4', root / 'video/m1.mp4')
    np.save(root / 'video/m2.npy', np.ones((7, 12), np.float32))
    np.save(root / 'video/m1.npy', np.zeros((3, 12), np.float32))
    write_wav(root / 'audio/m3.wav', 1.0, 16000)
    import soundfile as sf
    noise = 0.1 * np.random.default_rng(0).random(16000, np.float32)
    sf.write(str(root / 'audio/m1.mp3'), noise, 16000, format='MP3')
    (root / 'meta.json').write_text(json.dumps(META, ensure_ascii=False))
    return root


def test_release_layout_is_read_like_a_manifest(m5_root, tokenizer_dir):
    ds = M5ProductDataset(data_root=str(m5_root), split=None, tokenizer=dict(path=tokenizer_dir))
    fields = {r['id']: r['fields'] for r in ds.records}
    assert fields['m1'] == {'image': 'image/m1.jpg', 'text': 'Red cotton T-shirt',
                            'table': [('brand', 'Acme'), ('color', 'red')], 'video': 'video/m1.mp4',
                            'audio': 'audio/m1.mp3'}
    assert fields['m2']['table'] is None and fields['m2']['video'] is None
    assert fields['m2']['image'] == 'image/m2.png'
    assert fields['m4']['text'] is None and fields['m4']['image'] is None
    assert [r['split'] for r in ds.records] == ['train', 'train', 'val', 'train']
    assert ds.meta['categories'] == ['accessories', 'clothing', 'kitchen'] and ds.meta['num_instances'] == 1
    sample = ds[0]
    assert sample['errors'] == {} and sample['category'] == 1
    assert sample['video']['frames'].shape == (4, 3, 64, 64)
    assert sample['audio']['mel'].shape == (1 + 16000 // 256, 80)  # decoded from .mp3
    assert ds[1]['image']['pixels'].shape == (3, 64, 64)  # .png
    batch = ds.collate([ds[i] for i in range(len(ds))])
    assert batch['table']['present'].tolist() == [True, False, True, True]
    assert batch['audio']['present'].tolist() == [True, False, True, False]


def test_npy_files_are_the_feature_variant(m5_root, tokenizer_dir):
    video = dict(source='feature', pipeline=[dict(type='LoadFeature', max_tokens=5)])
    ds = DATASETS.build(dict(type='M5ProductDataset', data_root=str(m5_root),
                             tokenizer=dict(path=tokenizer_dir), modalities=dict(video=video)))
    assert ds.meta['feature_dims'] == {'video': 12}
    batch = ds.collate([ds[i] for i in range(len(ds))])
    assert batch['video']['feat_mask'].sum(1).tolist() == [3, 5, 0]  # m1 (3 rows), m2 (7 rows, cut to 5), m4


def test_split_meta_files_and_malformed_entries(m5_root, tokenizer_dir):
    val = {'v1': {'title': 'Blue jeans', 'pv': 'size#:#32', 'label': 'x'}}
    (m5_root / 'val.json').write_text(json.dumps(val))
    bad = dict(META, m5='not an object', m6={'title': 'x', 'pv': 'broken pv without separator'},
               m7={'title': 'y', 'label': {'nested': 1}})
    (m5_root / 'train.json').write_text(json.dumps(bad))
    files = dict(train='train.json', val='val.json')
    with pytest.raises(ManifestError, match=r"train.json: entry 'm5'"):
        M5ProductDataset(data_root=str(m5_root), meta_file=files, tokenizer=dict(path=tokenizer_dir))
    ds = M5ProductDataset(data_root=str(m5_root), meta_file=files, split='val', on_bad_line='skip',
                          tokenizer=dict(path=tokenizer_dir))
    assert [r['id'] for r in ds.records] == ['m3', 'v1']  # m3's own "split" wins over its file's
    assert ds.num_bad_lines == 3
    assert 'x' in ds.meta['categories'] and 'kitchen' in ds.meta['categories']  # labels over every file
    (m5_root / 'broken.json').write_text('{"a": {"title": "x",}\n')
    with pytest.raises(ManifestError, match=r'broken.json:1: invalid JSON'):
        M5ProductDataset(data_root=str(m5_root), meta_file='broken.json', tokenizer=None)
    (m5_root / 'list.json').write_text('[1, 2]')
    with pytest.raises(ManifestError, match='mapping id'):
        M5ProductDataset(data_root=str(m5_root), meta_file='list.json', tokenizer=None)
    with pytest.raises(FileNotFoundError, match='meta file'):
        M5ProductDataset(data_root=str(m5_root), meta_file='nope.json', tokenizer=None)


def test_media_folders_under_other_names_are_warned_about(m5_root, tokenizer_dir, caplog):
    import logging
    for name in ('image', 'video', 'audio'):
        (m5_root / name).rename(m5_root / f'{name}s')
    meta = (m5_root / 'meta.json').read_text()
    (m5_root / 'meta.json').write_bytes('\ufeff'.encode('utf-8') + meta.encode('utf-8'))   # a byte-order mark
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        ds = M5ProductDataset(data_root=str(m5_root), split=None, tokenizer=dict(path=tokenizer_dir))
    assert len(ds) == 4
    for name in ('image', 'video', 'audio'):
        assert f"modality '{name}' is configured but absent from every record" in caplog.text
        assert f"set folders=dict({name}=...)" in caplog.text
    ds = M5ProductDataset(data_root=str(m5_root), split=None, tokenizer=dict(path=tokenizer_dir),
                          folders=dict(image='images', video='videos', audio='audios'))
    assert ds.records[0]['fields']['image'] == 'images/m1.jpg'
