"""Training with token-budget batches: the schedule knows the epoch's length and a run stopped
mid-epoch resumes to exactly the weights of the uninterrupted run."""
from __future__ import annotations

import json

import torch

from m5mm.engine import run_training

BUDGET = dict(max_tokens=48, modalities=['text'])


def _weights(trainer) -> dict:
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_token_budget_run_stopped_mid_epoch_resumes_exactly(demo_root, tiny_config, tmp_path):
    options = {'data_root': str(demo_root), 'train_cfg.max_epochs': 2, 'train_dataloader.token_budget': BUDGET}
    straight = run_training(tiny_config, work_dir=str(tmp_path / 'straight'), cfg_options=options)
    rows = [json.loads(line) for line in (tmp_path / 'straight' / 'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in rows] == list(range(1, straight.total_steps + 1))
    assert straight.state.samples == 2 * len(straight.train_dataset)   # every sample once per epoch
    assert straight.steps_per_epoch > -(-len(straight.train_dataset) // 8)   # budget-bound batches: more of them
    stop = straight.steps_per_epoch + 2                                 # inside the second epoch
    run_training(tiny_config, work_dir=str(tmp_path / 'resumed'), cfg_options=options, max_steps=stop)
    resumed = run_training(tiny_config, work_dir=str(tmp_path / 'resumed'), cfg_options=options, resume='auto')
    assert resumed.state.step == straight.total_steps
    expected, got = _weights(straight), _weights(resumed)
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f'{len(different)} tensors differ after resuming, e.g. {different[:3]}'
