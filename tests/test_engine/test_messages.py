"""The message record hooks read: scalars with a bounded history, infos, JSON checkpoint state."""
from __future__ import annotations

import json

import pytest
import torch

from m5mm.engine.messages import MessageRecord


def test_scalars_keep_a_bounded_history_and_stay_tensors_until_read():
    record = MessageRecord(max_history=3)
    for step in range(1, 6):
        record.update_scalars({'train/loss': torch.tensor(float(step), requires_grad=True), 'train/lr': 0.1 * step},
                              step=step)
    assert record.history('train/loss') == [(3, 3.0), (4, 4.0), (5, 5.0)]
    assert record.latest('train/lr') == pytest.approx(0.5) and record.latest_step('train/loss') == 5
    values = record.step_values('train/', 5)
    assert set(values) == {'loss', 'lr'} and isinstance(values['loss'], torch.Tensor)
    assert not values['loss'].requires_grad   # detached: the record holds no graph
    assert record.step_values('train/', 4) == {} and record.latest('nothing', 7.0) == 7.0
    assert record.scalar_keys('train/') == ['train/loss', 'train/lr']


def test_state_is_json_with_the_persistent_infos_only():
    record = MessageRecord()
    record.update_scalars({'train/loss': torch.tensor(2.5)}, step=1)
    record.update_info('train_log', {'step': 1, 'loss': 2.5}, persistent=True)
    record.update_info('scratch', object())   # not persistent: never checkpointed
    with pytest.raises(TypeError, match="message 'bad'.*JSON"):
        record.update_info('bad', torch.tensor(1.0), persistent=True)
    state = json.loads(json.dumps(record.state_dict()))
    assert state == {'scalars': {'train/loss': [[1, 2.5]]}, 'infos': {'train_log': {'step': 1, 'loss': 2.5}}}
    restored = MessageRecord()
    restored.load_state_dict(state)
    assert restored.history('train/loss') == [(1, 2.5)] and restored.info('train_log')['loss'] == 2.5
    assert restored.info('scratch') is None and restored.state_dict() == state
