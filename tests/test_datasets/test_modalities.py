"""Modality specs: the generic collate (padding, masks, presence), features variant, plugins."""
import pytest
import torch

from m5mm.datasets import collate
from m5mm.datasets.modalities import PAD_ID, KeySpec, ModalitySpec
from m5mm.registry import MODALITIES


def build(name, **kwargs):
    return MODALITIES.build(dict(type=name, **kwargs))


def test_builtins_registered_under_modality_names():
    for name in ('image', 'text', 'table', 'video', 'audio'):
        spec = build(name)
        assert spec.name == name and spec.field == name and spec.feature_field == f'{name}_feat'


def test_text_collate_pads_with_pad_id_and_masks_absent():
    spec = build('text', pad_id=7)
    items = [{'input_ids': torch.tensor([2, 10, 11, 3])}, None, {'input_ids': torch.tensor([2, 3])}]
    out = spec.collate(items)
    assert out['present'].tolist() == [True, False, True]
    assert out['input_ids'].tolist() == [[2, 10, 11, 3], [7, 7, 7, 7], [2, 3, 7, 7]]
    assert out['attention_mask'].tolist() == [[True] * 4, [False] * 4, [True, True, False, False]]
    assert out['input_ids'].dtype == torch.long and out['attention_mask'].dtype == torch.bool


def test_table_collate_pads_each_key_with_its_value():
    spec = build('table', pad_id=0)
    item = {'input_ids': torch.tensor([2, 5, 6, 3]), 'token_type_ids': torch.tensor([0, 0, 1, 0]),
            'pair_ids': torch.tensor([-1, 0, 0, -1])}
    out = spec.collate([item, {k: v[:3] for k, v in item.items()}])
    assert out['pair_ids'][1].tolist() == [-1, 0, 0, -1]  # last position is padding (-1)
    assert out['token_type_ids'][1].tolist() == [0, 0, 1, 0]
    assert out['attention_mask'][1].tolist() == [True, True, True, False]


def test_pad_to_multiple_rounds_the_batch_length_up():
    spec = build('table', pad_id=0, pad_to_multiple=8)
    item = {'input_ids': torch.tensor([2, 5, 6, 3]), 'token_type_ids': torch.tensor([0, 0, 1, 0]),
            'pair_ids': torch.tensor([-1, 0, 0, -1])}
    out = spec.collate([item, None])
    assert out['input_ids'].shape == out['pair_ids'].shape == out['attention_mask'].shape == (2, 8)
    assert out['attention_mask'].sum(dim=1).tolist() == [4, 0] and out['pair_ids'][0, 4:].eq(-1).all()
    text = build('text', pad_to_multiple=4)
    lengths = [text.collate([{'input_ids': torch.arange(n)}])['input_ids'].shape[1] for n in (1, 4, 5, 9)]
    assert lengths == [4, 4, 8, 12]
    with pytest.raises(ValueError, match='pad_to_multiple'):
        build('text', pad_to_multiple=0)


def test_video_collate_pads_frames_and_builds_frame_mask():
    spec = build('video')
    a, b = torch.randn(4, 3, 8, 8), torch.randn(2, 3, 8, 8)
    out = spec.collate([{'frames': a}, {'frames': b}, None])
    assert out['frames'].shape == (3, 4, 3, 8, 8)
    assert torch.equal(out['frames'][0], a) and torch.equal(out['frames'][1, :2], b)
    assert (out['frames'][1, 2:] == 0).all() and (out['frames'][2] == 0).all()
    assert out['frame_mask'].tolist() == [[True] * 4, [True, True, False, False], [False] * 4]


def test_image_collate_stacks_and_fills_absent():
    spec = build('image')
    pix = torch.rand(3, 16, 16)
    out = spec.collate([None, {'pixels': pix}])
    assert out['pixels'].shape == (2, 3, 16, 16) and torch.equal(out['pixels'][1], pix)
    assert (out['pixels'][0] == 0).all() and out['present'].tolist() == [False, True]
    with pytest.raises(ValueError, match='share a shape'):
        spec.collate([{'pixels': pix}, {'pixels': torch.rand(3, 8, 8)}])


def test_all_absent_uses_template_then_declared_shapes():
    spec = build('audio')
    out = spec.collate([None, None], template={'mel': ((64,), torch.float32)})
    assert out['mel'].shape == (2, 1, 64) and not out['frame_mask'].any()
    out = spec.collate([None])
    assert out['mel'].shape == (1, 1, 80) and out['frame_mask'].shape == (1, 1)
    out = build('image', shapes={'pixels': (3, 32, 32)}).collate([None, None])
    assert out['pixels'].shape == (2, 3, 32, 32) and out['present'].tolist() == [False, False]


def test_feature_variant_uses_feats_and_feat_mask():
    spec = build('image', source='feature')
    assert spec.record_field == 'image_feat' and spec.default_pipeline() == [dict(type='LoadFeature')]
    out = spec.collate([{'feats': torch.ones(3, 5)}, None, {'feats': torch.ones(1, 5)}])
    assert set(out) == {'present', 'feats', 'feat_mask'}
    assert out['feats'].shape == (3, 3, 5)
    assert out['feat_mask'].sum(1).tolist() == [3, 0, 1]
    with pytest.raises(ValueError, match='source'):
        build('image', source='features')


def test_item_missing_key_and_wrong_trailing_shape_are_clear_errors():
    spec = build('audio')
    with pytest.raises(KeyError, match='lacks'):
        spec.collate([{'spectrogram': torch.zeros(3, 80)}])
    with pytest.raises(ValueError, match='expected items of shape'):
        spec.collate([{'mel': torch.zeros(3, 80)}, {'mel': torch.zeros(3, 40)}])


def test_parse_values():
    table = build('table')
    assert table.parse_value([['brand', 'Acme'], ['size', 32]]) == [('brand', 'Acme'), ('size', '32')]
    assert table.parse_value({'a': 'b'}) == [('a', 'b')]
    assert table.parse_value('color#:#red#;#size#:#M#;#') == [('color', 'red'), ('size', 'M')]
    assert table.parse_value([]) is None and table.parse_value(None) is None
    for bad in ([['only-key']], 'no separator here', 5, [['k', {'v': 1}]]):
        with pytest.raises(ValueError):
            table.parse_value(bad)
    text = build('text')
    assert text.parse_value('  hi ') == 'hi' and text.parse_value('') is None
    for bad in (12, ['a']):   # a wrong-typed title is a malformed field (docs/data.md), never str()-ed
        with pytest.raises(ValueError, match='expected a string'):
            text.parse_value(bad)
    with pytest.raises(ValueError, match='path'):
        build('image').parse_value(3)
    assert table.text_values([('brand', 'Acme')]) == ['brand', 'Acme']
    assert build('video').text_values('x') == []


class PointCloudModality(ModalitySpec):
    """A plugin modality that only declares its keys."""

    name = 'pointcloud_test'
    keys = (KeySpec('points', pad=0.0, shape=(3,)), KeySpec('labels', pad=PAD_ID, shape=(), dtype=torch.long))
    mask_key = 'point_mask'


def test_plugin_modality_declares_keys_only():
    MODALITIES.register_module(name='pointcloud_test', module=PointCloudModality, force=True)
    spec = build('pointcloud_test', pad_id=9)
    out = spec.collate([{'points': torch.ones(2, 3), 'labels': torch.tensor([1, 2])}, None])
    assert out['points'].shape == (2, 2, 3) and out['labels'].tolist() == [[1, 2], [9, 9]]
    assert out['point_mask'].tolist() == [[True, True], [False, False]]
    item = {'points': torch.ones(1, 3), 'labels': torch.tensor([4])}
    batch = collate([{'id': 'a', 'pointcloud_test': item}, {'id': 'b', 'pointcloud_test': None}])
    assert batch['pointcloud_test']['present'].tolist() == [True, False]
    assert batch['meta']['ids'] == ['a', 'b'] and batch['meta']['category'].tolist() == [-1, -1]


def test_module_level_collate_infers_specs_and_rejects_unknown_keys():
    samples = [{'id': 'x', 'index': 0, 'category': 2, 'instance': 1, 'errors': {},
                'video': {'feats': torch.zeros(2, 4)}, 'text': {'input_ids': torch.tensor([2, 3])}}]
    batch = collate(samples)
    assert set(batch['video']) == {'present', 'feats', 'feat_mask'}
    assert batch['meta']['category'].tolist() == [2] and batch['meta']['errors'] == [{}]
    with pytest.raises(KeyError, match='not a registered modality'):
        collate([{'id': 'x', 'smell': None}])
    with pytest.raises(ValueError, match='empty'):
        collate([])
