"""ManifestDataset: parsing, splits, labels, malformed lines, samples, batches, seeds."""
import json
import logging
import pickle
import shutil

import pytest
import torch

from m5mm.datasets import ManifestDataset, ManifestError
from m5mm.registry import DATASETS

from .media_files import MANIFEST

TEXT_ONLY = dict(text=None, table=None)


def make(data_root, tokenizer_dir, **kwargs):
    kwargs.setdefault('modalities', TEXT_ONLY)
    return ManifestDataset(data_root=str(data_root), tokenizer=dict(path=tokenizer_dir), **kwargs)


def write_manifest(path, lines):
    path.write_text('\n'.join(line if isinstance(line, str) else json.dumps(line) for line in lines) + '\n')


def test_splits_and_label_indices_are_stable_across_splits(data_root, tokenizer_dir):
    train = make(data_root, tokenizer_dir)
    assert [r['id'] for r in train.records] == ['p0', 'p1', 'p2', 'p3', 'p4']  # p1 has no split -> train
    test = make(data_root, tokenizer_dir, split=['query', 'gallery'])
    assert [r['id'] for r in test.records] == ['p6', 'p7', 'p8']
    everything = make(data_root, tokenizer_dir, split=None)
    assert len(everything) == len(MANIFEST)
    categories = ['accessories', 'clothing', 'electronics', 'kitchen']
    assert train.meta['categories'] == test.meta['categories'] == categories
    assert train.meta['num_categories'] == 4 and train.meta['num_instances'] == 6
    by_id = {s['id']: s for s in (test[i] for i in range(len(test)))}
    assert by_id['p6']['category'] == 1 and by_id['p8']['category'] == 3
    assert by_id['p6']['instance'] == by_id['p7']['instance'] == train[0]['instance'] == 0  # sku-1
    with pytest.raises(ValueError, match='unknown split'):
        make(data_root, tokenizer_dir, split='test')


def test_meta_and_sample_layout(data_root, tokenizer_dir):
    ds = make(data_root, tokenizer_dir, modalities=None, split='train')
    assert ds.meta['modalities'] == ['image', 'text', 'table', 'video', 'audio']
    assert ds.meta['tokenizer'] == dict(vocab_size=ds.tokenizer.vocab_size, pad_id=0, cls_id=2, sep_id=3,
                                        mask_id=4, unk_id=1)
    sample = ds[0]
    assert sample['id'] == 'p0' and sample['index'] == 0 and sample['errors'] == {}
    assert sample['image']['pixels'].shape == (3, 64, 64)
    assert sample['text']['input_ids'][0] == 2 and sample['text']['input_ids'][-1] == 3
    assert set(sample['table']) == {'input_ids', 'token_type_ids', 'pair_ids'}
    assert sample['video']['frames'].shape == (4, 3, 64, 64)
    assert sample['audio']['mel'].shape == (126, 80)
    assert ds[2]['table'] is None and ds[2]['video'] is None  # null / absent in the manifest
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_collate_builds_the_documented_batch(data_root, tokenizer_dir):
    ds = make(data_root, tokenizer_dir, modalities=None, split='train')
    batch = ds.collate([ds[i] for i in range(len(ds))])
    assert batch['image']['present'].tolist() == [True, True, True, False, False]
    assert batch['video']['present'].tolist() == [True, True, False, False, False]
    assert batch['video']['frame_mask'].sum(1).tolist() == [4, 3, 0, 0, 0]
    text = batch['text']
    lengths = [len(ds[i]['text']['input_ids']) for i in range(len(ds))]
    assert text['attention_mask'].sum(1).tolist() == lengths
    assert (text['input_ids'][~text['attention_mask']] == 0).all()
    assert (batch['table']['pair_ids'][~batch['table']['attention_mask']] == -1).all()
    assert batch['audio']['mel'].shape == (5, 251, 80)
    meta = batch['meta']
    assert meta['ids'] == ['p0', 'p1', 'p2', 'p3', 'p4'] and meta['index'].tolist() == [0, 1, 2, 3, 4]
    assert meta['category'].tolist() == [1, 1, 3, 2, 3]
    assert meta['errors'][3] == {'image': 'corrupt image', 'video': 'corrupt video', 'audio': 'corrupt audio'}


def test_batch_without_a_modality_gets_padding_of_the_right_shape(data_root, tokenizer_dir):
    ds = make(data_root, tokenizer_dir, modalities=None, split=['query', 'gallery'])  # no video/audio
    batch = ds.collate([ds[i] for i in range(len(ds))])
    assert batch['video']['frames'].shape == (3, 1, 3, 64, 64)  # probed from the train records
    assert not batch['video']['present'].any() and not batch['video']['frame_mask'].any()
    assert batch['audio']['mel'].shape == (3, 1, 80)
    custom = make(data_root, tokenizer_dir, split='gallery', modalities=dict(
        video=dict(pipeline=[dict(type='SampleVideoFrames', num_frames=2, size=(24, 32))])))
    batch = custom.collate([custom[i] for i in range(len(custom))])
    assert batch['video']['frames'].shape == (2, 1, 3, 24, 32)  # probed from a record in another split


def test_feature_source(data_root, tokenizer_dir):
    ds = make(data_root, tokenizer_dir, modalities=dict(image=dict(source='feature')))
    assert ds.meta['feature_dims'] == {'image': 16} and ds.meta['sources'] == {'image': 'feature'}
    batch = ds.collate([ds[i] for i in range(len(ds))])
    assert set(batch['image']) == {'present', 'feats', 'feat_mask'}
    assert batch['image']['present'].tolist() == [True, True, False, False, False]
    assert batch['image']['feat_mask'].sum(1).tolist() == [5, 1, 0, 0, 0]
    assert batch['meta']['errors'][3] == {'image': 'corrupt feature'}
    gallery = make(data_root, tokenizer_dir, split='gallery', modalities=dict(image=dict(source='feature')))
    empty = gallery.collate([gallery[i] for i in range(len(gallery))])
    assert empty['image']['feats'].shape == (2, 1, 16)


def test_malformed_lines_error_with_line_number_or_skip_and_count(tmp_path, tokenizer_dir, caplog):
    lines = [MANIFEST[0], '{"id": "x1", "text": ', MANIFEST[2], '', '["not", "an", "object"]',
             dict(id='x2', split='test'), dict(id='x3', table=[['only-key']]), dict(text='no id'),
             dict(id='p0', text='duplicate')]
    write_manifest(tmp_path / 'manifest.jsonl', lines)
    with pytest.raises(ManifestError, match=r'manifest.jsonl:2: invalid JSON'):
        make(tmp_path, tokenizer_dir)
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        ds = make(tmp_path, tokenizer_dir, split=None, on_bad_line='skip')
    assert [r['id'] for r in ds.records] == ['p0', 'p2']
    assert ds.num_bad_lines == 6
    assert [where.rsplit(':', 1)[1] for where, _ in ds.bad_lines] == ['2', '5', '6', '7', '8', '9']
    reasons = ' | '.join(reason for _, reason in ds.bad_lines)
    for part in ('invalid JSON', 'expected a JSON object', "unknown split 'test'", "field 'table'",
                 'missing or invalid "id"', "duplicate id 'p0'"):
        assert part in reasons
    assert 'skipped 6 malformed' in caplog.text
    (tmp_path / 'manifest.jsonl').write_bytes(b'{"id": "a"}\n\xff\xfe\n')
    with pytest.raises(ManifestError, match=r':2: not UTF-8'):
        make(tmp_path, tokenizer_dir)


def test_configuration_errors_are_clear(data_root, tmp_path, tokenizer_dir):
    with pytest.raises(FileNotFoundError, match='generate_if_missing'):
        make(tmp_path, tokenizer_dir)
    with pytest.raises(ValueError, match='on_bad_line'):
        make(data_root, tokenizer_dir, on_bad_line='ignore')
    with pytest.raises(ValueError, match='unknown keys'):
        make(data_root, tokenizer_dir, modalities=dict(text=dict(pipelines=[])))
    with pytest.raises(KeyError, match='not registered'):
        make(data_root, tokenizer_dir, modalities=dict(smell=None))
    with pytest.raises(ValueError, match='tokenizer has unknown keys'):
        ManifestDataset(data_root=str(data_root), tokenizer=dict(vocab=10))
    with pytest.raises(FileNotFoundError, match='tokenizer.json'):
        ManifestDataset(data_root=str(data_root), tokenizer=dict(path=str(tmp_path / 'none')))


def test_default_tokenizer_is_trained_into_the_data_root(data_root, tmp_path, caplog):
    root = tmp_path / 'copy'
    shutil.copytree(data_root, root, ignore=shutil.ignore_patterns('tokenizer*'))
    with caplog.at_level(logging.INFO, logger='m5mm'):
        ds = DATASETS.build(dict(type='ManifestDataset', data_root=str(root), split='val',
                                 modalities=dict(text=None), tokenizer=dict(path=None, vocab_size=300)))
    assert (root / 'tokenizer' / 'tokenizer.json').is_file() and 'training a WordPiece' in caplog.text
    vocab = ds.tokenizer.tokenizer.get_vocab()
    assert 'denim' in vocab and 'leather' not in vocab  # trained on train titles only (p5 is val)


def test_manifest_argument_and_generate_if_missing(tmp_path, tokenizer_dir):
    write_manifest(tmp_path / 'other.jsonl', [MANIFEST[0]])
    assert len(make(tmp_path, tokenizer_dir, manifest='other.jsonl')) == 1
    pytest.importorskip('m5mm.experiments.catalogues.demo')
    root = tmp_path / 'demo'
    ds = ManifestDataset(data_root=str(root), split=None, modalities=dict(text=None, image=None),
                         generate_if_missing=dict(type='demo', num_products=24, seed=0, num_categories=3))
    assert (root / 'manifest.jsonl').is_file() and len(ds) == 24 and ds.meta['num_categories'] == 3
    assert ds[0]['image'] is None or ds[0]['image']['pixels'].shape == (3, 64, 64)


def test_seeds_depend_on_index_and_epoch_only(data_root, tokenizer_dir):
    flip = dict(image=dict(pipeline=[dict(type='LoadImage'), dict(type='ResizeImage', size=8),
                                     dict(type='RandomFlipImage', prob=0.5)]))
    a = make(data_root, tokenizer_dir, split=None, modalities=flip, seed=1)
    b = make(data_root, tokenizer_dir, split=None, modalities=flip, seed=1)
    assert a.sample_seed(3) == b.sample_seed(3) != a.sample_seed(4)
    first = [a[i]['image'] for i in range(len(a))]
    a.set_epoch(1)
    assert a.sample_seed(3) != b.sample_seed(3)
    b.set_epoch(1)
    for x, y in zip((a[i]['image'] for i in range(len(a))), (b[i]['image'] for i in range(len(b)))):
        assert (x is None and y is None) or torch.equal(x['pixels'], y['pixels'])
    a.set_epoch(0)
    again = [a[i]['image'] for i in range(len(a))]
    assert all((x is None and y is None) or torch.equal(x['pixels'], y['pixels'])
               for x, y in zip(first, again))


def test_dataset_and_collate_pickle(data_root, tokenizer_dir):
    ds = make(data_root, tokenizer_dir, modalities=None)
    copy = pickle.loads(pickle.dumps(ds))
    assert copy.tokenizer is ds.tokenizer  # reloaded from its folder through the cache
    collate = pickle.loads(pickle.dumps(ds.collate))
    batch = collate([copy[0], copy[2]])
    assert batch['text']['input_ids'].tolist() == ds.collate([ds[0], ds[2]])['text']['input_ids'].tolist()


def _pool_threads(_samples):
    from threadpoolctl import threadpool_info
    return [pool['num_threads'] for pool in threadpool_info()]


def test_workers_get_one_blas_thread(data_root, tokenizer_dir):
    from torch.utils.data import DataLoader

    from m5mm.datasets.worker import limit_worker_threads
    ds = make(data_root, tokenizer_dir)
    assert limit_worker_threads() is False  # the main process keeps its threads
    ds[0]  # a main-process call must not stop the workers from limiting theirs
    threads = list(DataLoader(ds, batch_size=2, num_workers=1, collate_fn=_pool_threads))
    assert threads and all(n == 1 for batch in threads for n in batch)


@pytest.mark.parametrize('context', ['fork', 'spawn'])
def test_set_epoch_reaches_persistent_workers(data_root, tokenizer_dir, context):
    from torch.utils.data import DataLoader
    pipeline = [dict(type='LoadImage'), dict(type='ResizeImage', size=4),
                dict(type='RandomFlipImage', prob=0.5)]
    ds = make(data_root, tokenizer_dir, split=None, modalities=dict(image=dict(pipeline=pipeline)))
    loader = DataLoader(ds, batch_size=3, num_workers=1, persistent_workers=True, collate_fn=ds.collate,
                        multiprocessing_context=context)  # spawn pickles the dataset into the worker
    pixels = {}
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        got = torch.cat([batch['image']['pixels'] for batch in loader])
        expected = [ds[i]['image'] for i in range(len(ds))]  # computed in this process
        for row, ref in enumerate(expected):
            if ref is not None:
                assert torch.equal(got[row], ref['pixels'])
        pixels[epoch] = got
    assert not torch.equal(pixels[0], pixels[1])  # the flips changed with the epoch inside the worker
    copy = pickle.loads(pickle.dumps(ds))
    assert copy.epoch == 1 and copy._epoch is not ds._epoch


def test_nan_values_are_malformed_and_a_byte_order_mark_is_not(tmp_path, tokenizer_dir):
    lines = ['{"id": "n1", "text": NaN}', '{"id": "n2", "text": "ok", "table": [["weight", Infinity]]}',
             dict(id='n3', text='fine', category=5)]
    write_manifest(tmp_path / 'manifest.jsonl', lines)
    with pytest.raises(ManifestError, match=r"manifest.jsonl:1: field 'text': NaN/Infinity is not a value"):
        make(tmp_path, tokenizer_dir)
    ds = make(tmp_path, tokenizer_dir, on_bad_line='skip')
    assert [r['id'] for r in ds.records] == ['n3'] and len(ds.bad_lines) == 2
    text = (tmp_path / 'manifest.jsonl').read_text().replace('NaN', '"a title"').replace('Infinity', '"5 kg"')
    (tmp_path / 'manifest.jsonl').write_bytes('\ufeff'.encode('utf-8') + text.encode('utf-8'))
    ds = make(tmp_path, tokenizer_dir)
    assert [r['id'] for r in ds.records] == ['n1', 'n2', 'n3'] and ds.records[0]['fields']['text'] == 'a title'


def test_a_modality_absent_from_every_record_is_warned_about(tmp_path, tokenizer_dir, caplog):
    write_manifest(tmp_path / 'manifest.jsonl', [dict(id='a', text='red shirt'), dict(id='b', text='mug')])
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        make(tmp_path, tokenizer_dir, modalities=dict(text=None, image=None))
    assert "modality 'image' is configured but absent from every record" in caplog.text
    assert "'text' is configured" not in caplog.text


def test_wrong_typed_fields_are_malformed_lines(tmp_path, tokenizer_dir, caplog):
    lines = [dict(id='a', text='red shirt'), dict(id='b', text=42), dict(id='c', text=1.5),
             dict(id='d', text='mug', split=0), dict(id='e', text='pan', split=False), dict(id='f', text=['x']),
             dict(id='g', text='blue jeans', table=[['size', 32]])]   # numbers in a table are values
    write_manifest(tmp_path / 'manifest.jsonl', lines)
    with pytest.raises(ManifestError, match=r"manifest.jsonl:2: field 'text': text: expected a string, got int"):
        make(tmp_path, tokenizer_dir)
    with caplog.at_level(logging.WARNING, logger='m5mm'):
        ds = make(tmp_path, tokenizer_dir, split=None, on_bad_line='skip')
    assert [r['id'] for r in ds.records] == ['a', 'g'] and ds.records[1]['fields']['table'] == [('size', '32')]
    assert [where.rsplit(':', 1)[1] for where, _ in ds.bad_lines] == ['2', '3', '4', '5', '6']
    splits = "(expected one of ('train', 'val', 'query', 'gallery'))"
    assert [reason for _, reason in ds.bad_lines][2:4] == [f'unknown split {v!r} {splits}' for v in (0, False)]
    assert 'skipped 5 malformed' in caplog.text


@pytest.mark.parametrize('content', ['', '\n\n', '{"id": 5.5}\n'])
def test_an_empty_manifest_is_an_error_naming_it_before_any_tokenizer(tmp_path, content):
    (tmp_path / 'manifest.jsonl').write_text(content)
    skip = dict(on_bad_line='skip') if content.strip() else {}
    with pytest.raises(ManifestError, match=r'manifest.jsonl: no product records') as info:
        ManifestDataset(data_root=str(tmp_path), modalities=dict(text=None), **skip)   # tokenizer path=None: train
    assert ('1 malformed record(s) skipped' in str(info.value)) == bool(skip)
    assert not (tmp_path / 'tokenizer').exists()
