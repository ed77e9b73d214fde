"""Building the optimizer from config."""
import torch

from m5mm.engine.optimizers import build_optimizer


def test_optimizers_run_their_multi_tensor_implementation_unless_told_otherwise():
    model = torch.nn.Linear(3, 3)
    assert build_optimizer(model, dict(optimizer=dict(type='AdamW', lr=1e-3))).defaults['foreach'] is True
    assert build_optimizer(model, dict(optimizer=dict(type='AdamW', lr=1e-3, foreach=False))).defaults['foreach'] \
        is False
    assert build_optimizer(model, dict(optimizer=dict(type='AdamW', lr=1e-3, fused=True))).defaults['foreach'] \
        is None
