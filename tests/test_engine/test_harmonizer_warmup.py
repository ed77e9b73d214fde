"""HarmonizerWarmupHook: uniform weights first, the formula's after; a resumed run blends as the straight one."""
from __future__ import annotations

import json

import pytest
import torch

from m5mm.engine import run_training
from m5mm.engine.hooks import HarmonizerWarmupHook
from m5mm.engine.hooks.base import Hook
from m5mm.registry import HARMONIZERS, HOOKS
from tests.conftest import REPO


def test_the_uniform_share_falls_linearly_to_zero():
    hook = HarmonizerWarmupHook(fraction=0.5)
    assert [hook.share(step, 10) for step in range(8)] == pytest.approx([1, 0.8, 0.6, 0.4, 0.2, 0, 0, 0])
    assert [HarmonizerWarmupHook(steps=2).share(step, 100) for step in range(4)] == [1.0, 0.5, 0.0, 0.0]
    assert HarmonizerWarmupHook(fraction=0.01).warmup_steps(10) == 1   # never 0 steps
    for bad in (dict(fraction=0.0), dict(fraction=1.5), dict(fraction=None), dict(steps=0)):
        with pytest.raises(ValueError, match='HarmonizerWarmupHook'):
            HarmonizerWarmupHook(**bad)


def test_the_blend_is_the_formula_at_zero_uniform_at_one_and_linear_between():
    torch.manual_seed(0)
    embeddings = {m: torch.randn(4, 8) for m in ('image', 'text', 'audio')}
    present = {'image': torch.tensor([1, 1, 0, 1]).bool(), 'text': torch.ones(4, dtype=torch.bool),
               'audio': torch.tensor([1, 0, 1, 1]).bool()}
    harmonizer = HARMONIZERS.build(dict(type='CosineGraphHarmonizer'))
    formula = harmonizer(embeddings, present).weights
    mask = torch.stack([present[m] for m in embeddings], dim=1)
    mask = (mask[:, :, None] & mask[:, None, :]).float()
    assert float(harmonizer.uniform_share) == 0.0 and 'uniform_share' not in harmonizer.state_dict()
    assert torch.equal(harmonizer(embeddings, present).weights, formula)   # the default is the formula, exactly
    harmonizer.uniform_share.fill_(1.0)
    assert torch.equal(harmonizer(embeddings, present).weights, mask)
    harmonizer.uniform_share.fill_(0.25)
    blended = harmonizer(embeddings, present).weights
    torch.testing.assert_close(blended, 0.75 * formula + 0.25 * mask)
    assert torch.equal(blended[mask == 0], torch.zeros(int((mask == 0).sum())))   # absent pairs stay 0


@HOOKS.register_module(force=True)
class RecordUniformShareHook(Hook):
    """Writes WORK_DIR/shares.json: the uniform share each optimizer step trained with."""

    priority = 5   # before HarmonizerWarmupHook sets the next step's

    def before_run(self, trainer) -> None:
        path = trainer.work_dir / 'shares.json'
        self.shares = json.loads(path.read_text()) if path.is_file() else []

    def after_train_step(self, trainer, batch, outputs) -> None:
        self.shares.append(float(trainer.accelerator.unwrap_model(trainer.model).backbone.harmonizer.uniform_share))
        (trainer.work_dir / 'shares.json').write_text(json.dumps(self.shares))


def test_a_resumed_run_blends_as_the_uninterrupted_one(demo_root, tmp_path):
    config = tmp_path / 'warmup.py'
    config.write_text(f"_base_ = [{str(REPO / 'configs' / 'scale_5mod_tiny.py')!r}]\n"
                      "custom_imports = dict(imports=['tests.test_engine.test_harmonizer_warmup'])\n"
                      "hooks = [dict(type='CheckpointHook', interval=2, by_epoch=False, max_keep=0)]\n"
                      "custom_hooks = [dict(type='HarmonizerWarmupHook', fraction=1.0), "
                      "dict(type='RecordUniformShareHook')]\n")
    options = {'data_root': str(demo_root), 'train_cfg.max_epochs': 1}
    straight = run_training(str(config), work_dir=str(tmp_path / 'straight'), cfg_options=options)
    assert straight.total_steps == 3
    shares = json.loads((tmp_path / 'straight' / 'shares.json').read_text())
    assert shares == pytest.approx([1, 2 / 3, 1 / 3])   # a warm-up over the whole run
    assert float(straight.accelerator.unwrap_model(straight.model).backbone.harmonizer.uniform_share) == 0.0

    # stopped after step 2, resumed: step 3 trains at 1/3 (a fresh harmonizer would say 0)
    run_training(str(config), work_dir=str(tmp_path / 'resumed'), cfg_options=options, max_steps=2)
    resumed = run_training(str(config), work_dir=str(tmp_path / 'resumed'), cfg_options=options, resume='auto')
    assert json.loads((tmp_path / 'resumed' / 'shares.json').read_text()) == pytest.approx(shares)
    expected = straight.accelerator.unwrap_model(straight.model).state_dict()
    got = resumed.accelerator.unwrap_model(resumed.model).state_dict()
    assert not [k for k in expected if not torch.equal(expected[k], got[k])]
