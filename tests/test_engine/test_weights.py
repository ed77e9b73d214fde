"""Reading model weights from any file or folder without running code; tied weights in safetensors."""
from __future__ import annotations

import pytest
import torch

from m5mm.checkpoint.safe_load import CheckpointError, deepspeed_weights_only, load_tensor_file
from m5mm.checkpoint.weights import load_model_state_dict, load_safetensors, save_model_state_dict
from tests.test_engine.planted import assert_live, plant_torch_file

pytest.importorskip('deepspeed')


def _deepspeed_folder(root, marker):
    """A folder shaped like a DeepSpeed ZeRO checkpoint whose every file is a planted pickle."""
    root.mkdir()
    (root / 'latest').write_text('pytorch_model')
    shards = root / 'pytorch_model'
    shards.mkdir()
    for name in ('mp_rank_00_model_states.pt', 'zero_pp_rank_0_mp_rank_00_optim_states.pt',
                 'zero_pp_rank_1_mp_rank_00_optim_states.pt'):
        plant_torch_file(shards / name, marker)
    return root


@pytest.mark.parametrize('layout', ['file.pt', 'file.bin', 'legacy_dir', 'deepspeed_dir'])
def test_planted_pickles_are_refused_wherever_weights_are_read(tmp_path, layout):
    marker = tmp_path / 'pwned'
    if layout == 'deepspeed_dir':
        path = _deepspeed_folder(tmp_path / 'ckpt', marker)
        assert_live(path / 'pytorch_model' / 'mp_rank_00_model_states.pt', marker)
    elif layout == 'legacy_dir':   # a checkpoint of format 1 (Accelerate's pytorch_model.bin)
        path = tmp_path / 'ckpt'
        path.mkdir()
        assert_live(plant_torch_file(path / 'pytorch_model.bin', marker), marker)
    else:
        path = plant_torch_file(tmp_path / layout, marker)
        assert_live(path, marker)
    with pytest.raises(CheckpointError, match='refuses to load this file'):
        load_model_state_dict(path)
    assert not marker.exists()
    assert torch.load is load_tensor_file.__globals__['_TORCH_LOAD']   # DeepSpeed's torch.load is put back


def test_deepspeed_files_load_weights_only_with_their_classes(tmp_path):
    from deepspeed.runtime.fp16.loss_scaler import LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    state = dict(optimizer_state_dict=dict(zero_stage=ZeroStageEnum.gradients, loss_scaler=LossScaler(1.0),
                                           flat=[torch.ones(3)]))
    torch.save(state, str(tmp_path / 'optim.pt'))
    with deepspeed_weights_only():
        loaded = torch.load(str(tmp_path / 'optim.pt'), weights_only=False)   # as DeepSpeed calls it
    assert loaded['optimizer_state_dict']['zero_stage'] is ZeroStageEnum.gradients
    assert loaded['optimizer_state_dict']['loss_scaler'].cur_scale == 1.0
    with pytest.raises(Exception, match='Unsupported global'):   # outside the block: not allowed
        torch.load(str(tmp_path / 'optim.pt'), weights_only=True)


def test_safetensors_keep_tied_weights_once_and_copy_other_views(tmp_path):
    shared = torch.randn(4, 3)
    state = {'a.weight': shared, 'b.weight': shared, 'first_rows': shared[:2], 'bias': torch.zeros(3)}
    path = save_model_state_dict(state, tmp_path / 'w.safetensors')
    loaded = load_safetensors(path)
    assert set(loaded) == set(state) and loaded['b.weight'] is loaded['a.weight']
    for name, value in state.items():
        assert torch.equal(loaded[name], value)
    assert load_model_state_dict(path).keys() == state.keys()


def test_a_damaged_weights_file_names_itself(tmp_path):
    path = tmp_path / 'w.safetensors'
    path.write_bytes(b'not safetensors at all')
    with pytest.raises(CheckpointError, match='w.safetensors: not a readable safetensors file'):
        load_model_state_dict(path)
