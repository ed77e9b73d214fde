"""Checkpoints of m5mm 0.1 (before the backbone/objectives redesign) load into today's models."""
import json
from pathlib import Path

import pytest
import torch

from m5mm.models.checkpoint_names import legacy_order_differs, upgrade_state_dict
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


ORDER_CHANGED = {'configs/scale_5mod_tiny.py': False, 'configs/classification/scale_cls_5mod_tiny.py': False,
                 'configs/fusion/single_stream_5mod.py': True, 'configs/fusion/scale_5mod.py': True,
                 'configs/fusion/uniter_5mod.py': True, 'configs/fusion/clip_5mod.py': True}


@pytest.mark.parametrize('config', sorted(ORDER_CHANGED), ids=lambda c: Path(c).stem)
def test_models_whose_parameter_order_changed_since_0_1_are_told(config):
    """0.1 registered projections after the heads, a matching head before the masked heads and a
    ScaleFusion's type embedding before its [CLS] token."""
    model = build_step_model(config)
    masked = [n for n, o in model.objectives.items() if o.masked_modality is not None]
    assert legacy_order_differs([n for n, _ in model.named_parameters()], model.legacy_order, masked) \
        == ORDER_CHANGED[config]
    legacy_order = list(LEGACY[config])          # a 0.1 state dict lists its parameters in their order
    params = {n for n, _ in model.named_parameters()}
    mapped = [n for n in upgrade_state_dict({k: 0 for k in legacy_order}, model.state_dict()) if n in params]
    assert (mapped != [n for n, _ in model.named_parameters() if n in mapped]) == ORDER_CHANGED[config]
