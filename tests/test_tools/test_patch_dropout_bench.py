"""benchmarks/patch_dropout.py: the speed arm of patch (image) and frame (video) dropout, tiny sizes."""
import argparse

import pytest
import torch

from tests.script_module import load_script


def _script():
    return load_script('benchmarks/patch_dropout.py')


@pytest.mark.parametrize('tower, attr', [('image', 'patch_keep'), ('video', 'frame_keep')])
def test_speed_arm_switches_the_towers_keep_and_executes_fewer_flops(demo_root, tower, attr):
    script = _script()
    torch.set_num_threads(1)
    args = argparse.Namespace(tower=tower, data_root=str(demo_root), keeps=[1.0, 0.5], speed_batch=2,
                              speed_steps=1)
    speed = script.measure_speed(args)
    full, half = speed['rows']
    assert (full[attr], half[attr]) == (1.0, 0.5)
    assert half['gflop_per_step'] < full['gflop_per_step']
    assert full['speedup'] == 1.0 and full['cpu_speedup'] == 1.0 and half['step_s_median'] > 0


def test_set_keep_names_the_missing_tower():
    script = _script()
    model = torch.nn.Module()
    with pytest.raises(ValueError, match='video tower with frame_keep'):
        script.set_keep(model, 0.5, tower='video')


def test_one_modality_needs_the_cells_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match='no checkpoint'):
        _script().one_modality(tmp_path, 'video')
