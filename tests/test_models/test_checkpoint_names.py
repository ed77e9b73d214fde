"""Checkpoints of m5mm 0.1 (before the backbone/objectives redesign) load into today's models."""
import json
from pathlib import Path

import pytest
import torch

from m5mm.models.checkpoint_names import upgrade_state_dict
from tests.fixtures.model_numbers import build_step_model, step_batch

# the parameter names and shapes of these configs' models as m5mm 0.1 built them
LEGACY = json.loads((Path(__file__).resolve().parents[1] / 'fixtures' / 'legacy_state_keys.json').read_text())


@pytest.mark.parametrize('config', sorted(LEGACY), ids=lambda c: Path(c).stem)
def test_every_legacy_name_maps_onto_the_model(config):
    model = build_step_model(config)
    own = {k: list(v.shape) for k, v in model.state_dict().items()}
    legacy = LEGACY[config]
    upgraded = upgrade_state_dict(legacy, own)
    assert upgraded == own        # every old tensor has a new name, with its shape, and nothing is left out


def test_load_state_dict_renames_a_legacy_checkpoint():
    config = 'configs/fusion/uniter_5mod.py'
    model = build_step_model(config).eval()
    renamed = {'backbone.encoders.': 'encoders.', 'backbone.fusion.embed.': 'fusion.', 'backbone.fusion.': 'fusion.',
               'objectives.match.': 'losses.match.', 'objectives.mlm.head.': 'heads.mlm.'}

    def legacy_name(name):
        for new, old in renamed.items():
            if name.startswith(new):
                return old + name[len(new):]
        return name.replace('objectives.', 'heads.').replace('.head.', '.', 1)
    state = {legacy_name(k): v.clone() + 1.0 for k, v in model.state_dict().items()}
    assert all(k in LEGACY[config] for k in state)
    fresh = build_step_model(config)
    fresh.load_state_dict(state)                          # strict: every name is found
    for name, value in fresh.state_dict().items():
        torch.testing.assert_close(value, model.state_dict()[name] + 1.0, msg=name)
    assert torch.isfinite(fresh.extract_features(step_batch(fresh))['joint']).all()
