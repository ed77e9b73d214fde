"""RecordDataset: records given in memory give the batches a dataset of the same records gives."""
import pytest
import torch

from m5mm.datasets import ManifestDataset, MediaError
from m5mm.datasets.record_dataset import RecordDataset

from .media_files import MANIFEST


def _assert_batches_equal(a, b):
    assert a.keys() == b.keys()
    for name, entry in a.items():
        if name == 'meta':
            assert entry['ids'] == b['meta']['ids'] and entry['errors'] == b['meta']['errors']
            assert torch.equal(entry['category'], b['meta']['category'])
            continue
        assert entry.keys() == b[name].keys(), name
        for key, value in entry.items():
            assert torch.equal(value, b[name][key]), (name, key)


def test_records_batch_like_the_manifest_dataset(data_root, tokenizer_dir):
    dataset = ManifestDataset(data_root=str(data_root), tokenizer=dict(path=tokenizer_dir), split='train')
    records = [r for r in MANIFEST if r.get('split', 'train') == 'train']
    memory = RecordDataset(records, specs=dataset.specs, pipelines=dataset.pipelines, data_root=dataset.data_root,
                           tokenizer=dataset.tokenizer, template_fn=dataset.template, categories=dataset.categories)
    expected = dataset.collate([dataset[i] for i in range(len(dataset))])
    _assert_batches_equal(memory.collate([memory[i] for i in range(len(memory))]), expected)
    assert memory[3]['errors'] == {'image': 'corrupt image', 'video': 'corrupt video', 'audio': 'corrupt audio'}


def test_absent_modalities_use_the_template_and_errors_can_raise(data_root, tokenizer_dir):
    dataset = ManifestDataset(data_root=str(data_root), tokenizer=dict(path=tokenizer_dir), split='train')
    kwargs = dict(specs=dataset.specs, pipelines=dataset.pipelines, data_root=dataset.data_root,
                  tokenizer=dataset.tokenizer, template_fn=dataset.template)
    text_only = RecordDataset([{'text': 'red shirt'}, {'id': 'x', 'text': 'blue jeans'}], **kwargs)
    batch = text_only.collate([text_only[0], text_only[1]])
    assert batch['meta']['ids'] == ['0', 'x'] and batch['meta']['category'].tolist() == [-1, -1]
    assert batch['video']['frames'].shape[2:] == dataset.template('video')['frames'][0]
    assert not batch['image']['present'].any() and batch['text']['present'].all()
    broken = RecordDataset([{'id': 'b', 'image': 'images/trunc.jpg'}], on_error='raise', **kwargs)
    with pytest.raises(MediaError, match="corrupt image: image of record 'b'"):
        broken[0]
    with pytest.raises(ValueError, match=r"record 0 \('q'\): field 'text'"):
        RecordDataset([{'id': 'q', 'text': ['not', 'a', 'string']}], **kwargs)
    with pytest.raises(ValueError, match='on_error'):
        RecordDataset([], on_error='ignore', **kwargs)
