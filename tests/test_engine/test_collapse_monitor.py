"""CollapseMonitorHook: warns when a modality's spread shows a collapse, once, and again after recovery."""
import logging
from types import SimpleNamespace

import torch

from m5mm.engine.hooks import CollapseMonitorHook
from m5mm.models.backbones.spread import modality_spread


def _trainer():
    return SimpleNamespace(logger=logging.getLogger('m5mm.test_collapse'), state=SimpleNamespace(step=0))


def _step(hook, trainer, embeddings):
    trainer.state.step += 1
    present = {m: torch.ones(x.shape[0], dtype=torch.bool) for m, x in embeddings.items()}
    hook.after_train_step(trainer, {}, modality_spread(embeddings, present))


def test_the_warning_fires_on_a_collapsed_modality_only(caplog):
    gen = torch.Generator().manual_seed(0)
    hook, trainer = CollapseMonitorHook(cos_threshold=0.95, window=3), _trainer()
    with caplog.at_level(logging.INFO, logger='m5mm.test_collapse'):
        for step in range(4):
            assert hook.collapsed == ({'audio'} if step == 3 else set())  # checked once the window is full
            collapsed = torch.ones(16, 8) + 0.01 * torch.randn(16, 8, generator=gen)    # cosine ~1
            _step(hook, trainer, {'audio': collapsed, 'text': torch.randn(16, 8, generator=gen)})
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and 'audio' in warnings[0].getMessage()      # once, not every step
    assert hook.collapsed == {'audio'} and hook.means('audio')['cos'] > 0.99
    caplog.clear()
    with caplog.at_level(logging.INFO, logger='m5mm.test_collapse'):
        for _ in range(3):                                                  # the window forgets the collapse
            _step(hook, trainer, {'audio': torch.randn(16, 8, generator=gen)})
    assert hook.collapsed == set() and 'spread out again' in caplog.text
    state = hook.state_dict()
    resumed = CollapseMonitorHook(cos_threshold=0.95, window=3)
    resumed.load_state_dict(state)
    assert resumed.means('audio') == hook.means('audio')


def test_a_modality_hovering_at_the_threshold_warns_once(caplog):
    hook, trainer = CollapseMonitorHook(cos_threshold=0.95, window=1, margin=0.05), _trainer()
    with caplog.at_level(logging.INFO, logger='m5mm.test_collapse'):
        for cos in (0.96, 0.94, 0.96, 0.93, 0.951, 0.91, 0.89):
            trainer.state.step += 1
            hook.after_train_step(trainer, {}, {'spread_cos_video': torch.tensor(cos)})
            assert hook.collapsed == ({'video'} if cos > 0.9 else set())   # recovered only below 0.95 - 0.05
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1
    assert caplog.text.count('spread out again') == 1


def test_the_std_threshold(caplog):
    hook, trainer = CollapseMonitorHook(cos_threshold=1.1, std_threshold=0.05, window=1), _trainer()
    gen = torch.Generator().manual_seed(1)
    with caplog.at_level(logging.WARNING, logger='m5mm.test_collapse'):
        _step(hook, trainer, {'video': 0.01 * torch.randn(16, 8, generator=gen)})   # spread in angle, not in size
    assert hook.collapsed == {'video'} and 'per-dimension std' in caplog.text and 'cosine' not in caplog.text
