"""CollapseMonitorHook: warns when a modality's spread shows a collapse, once, and again after recovery."""
import logging
from types import SimpleNamespace

import torch

from m5mm.engine.hooks import CollapseMonitorHook
from m5mm.models.backbones.collapse_statistics import modality_spread


def _trainer():
    return SimpleNamespace(logger=logging.getLogger('m5mm.test_collapse'), state=SimpleNamespace(step=0))


def _step(hook, trainer, embeddings):
    trainer.state.step += 1
    present = {m: torch.ones(x.shape[0], dtype=torch.bool) for m, x in embeddings.items()}
    hook.after_train_step(trainer, {}, modality_spread(embeddings, present))


def test_the_warning_fires_on_a_collapsed_modality_only(caplog):
    gen = torch.Generator().manual_seed(0)
    hook, trainer = CollapseMonitorHook(cos_threshold=0.95, window=3, warmup_steps=0), _trainer()
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
    resumed = CollapseMonitorHook(cos_threshold=0.95, window=3, warmup_steps=0)
    resumed.load_state_dict(state)
    assert resumed.means('audio') == hook.means('audio')


def test_a_modality_hovering_at_the_threshold_warns_once(caplog):
    hook, trainer = CollapseMonitorHook(cos_threshold=0.95, window=1, margin=0.05, warmup_steps=0), _trainer()
    with caplog.at_level(logging.INFO, logger='m5mm.test_collapse'):
        for cos in (0.96, 0.94, 0.96, 0.93, 0.951, 0.91, 0.89):
            trainer.state.step += 1
            hook.after_train_step(trainer, {}, {'spread_cos_video': torch.tensor(cos)})
            assert hook.collapsed == ({'video'} if cos > 0.9 else set())   # recovered only below 0.95 - 0.05
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1
    assert caplog.text.count('spread out again') == 1


def test_the_std_threshold(caplog):
    hook, trainer = CollapseMonitorHook(cos_threshold=1.1, std_threshold=0.05, window=1, warmup_steps=0), _trainer()
    gen = torch.Generator().manual_seed(1)
    with caplog.at_level(logging.WARNING, logger='m5mm.test_collapse'):
        _step(hook, trainer, {'video': 0.01 * torch.randn(16, 8, generator=gen)})   # spread in angle, not in size
    assert hook.collapsed == {'video'} and 'per-dimension std' in caplog.text and 'cosine' not in caplog.text


def _run(hook, trainer, image_cos, video_cos):
    for image, video in zip(image_cos, video_cos):
        trainer.state.step += 1
        hook.after_train_step(trainer, {}, {'spread_cos_image': torch.tensor(image),
                                            'spread_cos_video': torch.tensor(video)})


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_an_early_transient_collapse_is_not_warned_about(caplog):
    """As measured on the demo catalogue (docs/training.md): a healthy image tower starts close together
    (windowed cosine above 0.95 from step 13 to 67) and spreads out; the video tower stays at 0.98-0.998."""
    hook, trainer = CollapseMonitorHook(cos_threshold=0.95), _trainer()
    image = [0.94] * 12 + [0.98] * 55 + [0.6] * 100
    with caplog.at_level(logging.INFO, logger='m5mm.test_collapse'):
        _run(hook, trainer, image, [0.99] * len(image))
        hook.after_run(trainer)
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and warnings[0].startswith('Step 100: the video embeddings have collapsed')
    assert 'lasting past the first 100 steps' in warnings[0] and 'modality_dropout' in warnings[0]
    assert 'the image embeddings are close together' in caplog.text and 'image embeddings spread out' in caplog.text


def test_a_short_run_warns_at_its_end_about_a_lasting_collapse(caplog):
    hook, trainer = CollapseMonitorHook(cos_threshold=0.95), _trainer()
    with caplog.at_level(logging.INFO, logger='m5mm.test_collapse'):
        _run(hook, trainer, [0.5] * 56, [0.99] * 56)           # the quick start: 56 steps
        assert _warnings(caplog) == []
        hook.after_run(trainer)
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and 'video' in warnings[0] and 'at the end of training' in warnings[0]
