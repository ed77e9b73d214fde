"""Corrupt, missing and escaping media become absent modalities, logged and counted."""
import logging

import pytest
import torch
from torch.utils.data import DataLoader

from m5mm.datasets import ManifestDataset, MediaError, MediaReport, resolve_media_path

EXPECTED = {'image': {'corrupt image': 1, 'missing file': 1},
            'video': {'corrupt video': 1, 'path escapes data root': 1},
            'audio': {'corrupt audio': 1, 'path escapes data root': 1}}


@pytest.fixture(scope='module')
def dataset(data_root, tokenizer_dir):
    return ManifestDataset(data_root=str(data_root), split=None, tokenizer=dict(path=tokenizer_dir))


def test_resolve_media_path_rejects_escapes(tmp_path):
    root = str(tmp_path)
    assert resolve_media_path(root, 'images/a.jpg') == str(tmp_path / 'images/a.jpg')
    assert resolve_media_path(root, 'images/../images/a.jpg') == str(tmp_path / 'images/a.jpg')
    assert resolve_media_path(root, str(tmp_path / 'x.jpg')) == str(tmp_path / 'x.jpg')  # absolute inside
    for bad in ('../a.jpg', 'images/../../a.jpg', '/etc/passwd', '.', '', 'a\x00b'):
        with pytest.raises(MediaError) as err:
            resolve_media_path(root, bad)
        assert err.value.reason == 'path escapes data root'


def test_broken_media_are_absent_with_reasons(dataset, caplog):
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        p3, p4, p5 = dataset[3], dataset[4], dataset[5]
    assert p3['image'] is None and p3['video'] is None and p3['audio'] is None
    assert p3['text'] is not None and p3['table'] is not None  # the rest of the sample is kept
    assert p3['errors'] == {'image': 'corrupt image', 'video': 'corrupt video', 'audio': 'corrupt audio'}
    assert p4['errors'] == {'image': 'missing file', 'audio': 'path escapes data root'}
    assert p5['errors'] == {'video': 'path escapes data root'} and p5['image'] is not None
    assert "image of 'p3' treated as absent: corrupt image" in caplog.text
    assert "'/etc/passwd' is outside" in caplog.text


def test_media_report_counts_through_dataloader_workers(dataset):
    loader = DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=dataset.collate)
    report = MediaReport()
    presence = []
    for batch in loader:
        report.update(batch['meta'])
        presence.append(batch['image']['present'])
        for name in ('image', 'video', 'audio'):
            for row, errors in enumerate(batch['meta']['errors']):
                if name in errors:
                    assert not batch[name]['present'][row]
    assert report.as_dict() == EXPECTED and report.total == 6 and report.num_samples == len(dataset)
    assert torch.cat(presence).sum() == 6  # 8 image fields, 2 unusable
    summary = report.summary()
    assert '6 in 9 samples' in summary
    assert 'image: 1 corrupt image (e.g. p3), 1 missing file (e.g. p4)' in summary
    report.reset()
    assert report.summary() == 'media errors: none in 0 samples'


def test_media_report_pickles_and_ignores_clean_batches():
    import pickle
    report = MediaReport(max_examples=1)
    missing = {'image': 'missing file'}
    report.update({'ids': ['a', 'b', 'c'], 'errors': [missing, {}, missing]})
    copy = pickle.loads(pickle.dumps(report))
    assert copy.counts['image']['missing file'] == 2 and copy.examples[('image', 'missing file')] == ['a']
    copy.update({'ids': ['d'], 'errors': [{}]})
    assert copy.num_samples == 4 and copy.total == 2


def test_media_error_pickles_with_reason():
    import pickle
    err = pickle.loads(pickle.dumps(MediaError('corrupt video', 'x.mp4: moov atom not found')))
    assert err.reason == 'corrupt video' and 'moov' in str(err)
