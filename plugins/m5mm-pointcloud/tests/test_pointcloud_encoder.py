"""PointCloudEncoder: shapes, masks honoured, absent/padding invariance, targets, masking, gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from m5mm.models.encoders import EncoderInputError
from m5mm.registry import ENCODERS
from m5mm_pointcloud import PointCloudEncoder

CFG = dict(type='PointCloudEncoder', num_groups=6, group_size=5, hidden_dim=16, dim=32, depth=1, num_heads=2)
ABSENT = 1


def make_entry(batch: int = 4, points: int = 20, seed: int = 0, lengths=(20, 20, 12, 4)) -> dict:
    """A collated ``pointcloud`` entry: sample 1 absent (zero data, mask False), ragged lengths."""
    gen = torch.Generator().manual_seed(seed)
    present = torch.ones(batch, dtype=torch.bool)
    present[ABSENT] = False
    mask = torch.arange(points)[None] < torch.tensor(lengths[:batch])[:, None]
    mask &= present[:, None]
    xyz = torch.randn(batch, points, 3, generator=gen) * mask[..., None]
    return {'points': xyz, 'point_mask': mask, 'present': present}


def build(seed: int = 0, **overrides) -> PointCloudEncoder:
    torch.manual_seed(seed)
    return ENCODERS.build(dict(CFG, **overrides)).eval()


def run(encoder, entry, mask_ratio: float = 0.0, seed: int = 0):
    torch.manual_seed(seed)
    return encoder(entry, mask_ratio=mask_ratio)


def scramble(entry: dict, region: torch.Tensor) -> dict:
    """``entry`` with its points replaced by noise where ``region`` ((B,) or (B, N)) is True."""
    noise = torch.randn(entry['points'].shape, generator=torch.Generator().manual_seed(9)) * 5 + 2
    where = region.view(*region.shape, *([1] * (3 - region.dim())))
    return {**entry, 'points': torch.where(where, noise, entry['points'])}


def assert_same(a, b):
    for field in ('tokens', 'mask', 'pooled', 'present', 'targets', 'masked'):
        torch.testing.assert_close(getattr(a, field), getattr(b, field), rtol=1e-5, atol=1e-6, msg=field)


def reference_patches(points: np.ndarray, num_groups: int, k: int) -> np.ndarray:
    """Farthest point sampling from point 0, then the k nearest points relative to each centre (numpy)."""
    chosen, dist = [0], np.full(len(points), np.inf)
    for _ in range(num_groups - 1):
        dist = np.minimum(dist, ((points - points[chosen[-1]]) ** 2).sum(1))
        chosen.append(int(dist.argmax()))
    patches = []
    for c in chosen:
        d = ((points - points[c]) ** 2).sum(1)
        nearest = np.argsort(d, kind='stable')[:k]
        patches.append(points[nearest] - points[c])
    return np.stack(patches)


def test_shapes_masks_and_token_count():
    encoder = build()
    entry = make_entry()
    out = run(encoder, entry, mask_ratio=0.3)
    assert out.tokens.shape == (4, 7, 32) and out.pooled.shape == (4, 32)
    assert out.targets.shape == (4, 7, 15) and encoder.target_dim == 15
    assert out.present.tolist() == [True, False, True, True]
    assert out.mask[:, 0].tolist() == [True, False, True, True]
    # 6 groups for 20 and 12 points, 4 real groups for 4 points, none for the absent sample
    assert out.mask[:, 1:].sum(1).tolist() == [6, 0, 6, 4]
    assert not out.masked[:, 0].any() and not out.targets[:, 0].any()
    assert not (out.masked & ~out.mask).any()
    assert torch.isfinite(out.tokens).all() and torch.isfinite(out.pooled).all()


def test_targets_are_the_centred_patches_of_the_input():
    encoder = build()
    entry = make_entry()
    out = run(encoder, entry)
    for b, n in ((0, 20), (2, 12)):
        expected = reference_patches(entry['points'][b, :n].double().numpy(), 6, 5).reshape(6, 15)
        np.testing.assert_allclose(out.targets[b, 1:].double().numpy(), expected, atol=1e-5)
    # 4 points and groups of 5: the fifth neighbour is missing, its target 0
    short = out.targets[3, 1:5].reshape(4, 5, 3)
    assert not short[:, 4].any() and short[:, :4].abs().sum() > 0
    assert not out.targets[ABSENT].any() and not out.targets[3, 5:].any()


def test_targets_do_not_depend_on_point_order():
    encoder = build()
    entry = make_entry(lengths=(20, 20, 20, 20))
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(1))
    perm = perm[perm != 0]
    perm = torch.cat([torch.zeros(1, dtype=torch.long), perm])  # keep the start point of the sampling
    shuffled = {**entry, 'points': entry['points'][:, perm]}
    torch.testing.assert_close(run(encoder, entry).targets, run(encoder, shuffled).targets)


@pytest.mark.parametrize('training', [False, True], ids=['eval', 'train'])
def test_absent_sample_data_changes_nothing(training):
    encoder = build()
    encoder.train(training)
    ratio = 0.3 if training else 0.0
    entry = make_entry()
    assert_same(run(encoder, entry, ratio), run(encoder, scramble(entry, ~entry['present']), ratio))


def test_padding_changes_nothing():
    encoder = build()
    entry = make_entry()
    padding = ~entry['point_mask'] & entry['present'][:, None]
    assert padding.any()
    assert_same(run(encoder, entry), run(encoder, scramble(entry, padding)))


@pytest.mark.parametrize('mask_ratio', [0.0, 0.3])
def test_all_absent_batch_no_nan_and_every_parameter_gets_a_gradient(mask_ratio):
    encoder = build().train()
    entry = make_entry()
    entry = {**entry, 'present': torch.zeros(4, dtype=torch.bool)}
    out = run(encoder, entry, mask_ratio)
    assert not out.mask.any() and not out.masked.any()
    assert torch.isfinite(out.tokens).all() and torch.isfinite(out.pooled).all()
    (out.tokens.sum() + out.pooled.sum()).backward()
    for name, param in encoder.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name


def test_masked_tokens_get_the_mask_embedding_and_keep_their_centre_position():
    encoder = build()
    entry = make_entry()
    seen = {}
    encoder.transformer.register_forward_pre_hook(lambda mod, args: seen.update(x=args[0].detach()))
    out = run(encoder, entry, mask_ratio=0.5)
    real, masked = out.mask[:, 1:], out.masked[:, 1:]
    assert masked.sum(1).tolist() == [3, 0, 3, 2]
    centres, _, _, _ = encoder.group(entry['points'], entry['point_mask'] & entry['present'][:, None])
    pos = encoder.positions(6)[:, 1:] + encoder.centre_embed(centres)
    content = (seen['x'][:, 1:] - pos).detach()
    torch.testing.assert_close(content[masked], encoder.mask_embed.detach().expand(int(masked.sum()), -1))
    assert not torch.isclose(content[real & ~masked], encoder.mask_embed.detach()).all(-1).any()


def test_bf16_parameters_take_float32_points():
    encoder = build().to(torch.bfloat16)
    out = run(encoder, make_entry())
    assert out.tokens.dtype == torch.bfloat16 and torch.isfinite(out.tokens.float()).all()


def test_bad_inputs_give_clear_errors():
    encoder = build()
    with pytest.raises(EncoderInputError, match=r"needs inputs\['points'\]"):
        encoder({'pixels': torch.zeros(1, 3, 4, 4)})
    with pytest.raises(EncoderInputError, match=r'points must be \(B, N, 3\)'):
        encoder({'points': torch.zeros(2, 5, 2)})
    with pytest.raises(EncoderInputError, match='point_mask'):
        encoder({'points': torch.zeros(2, 5, 3), 'point_mask': torch.ones(2, 4, dtype=torch.bool)})
    with pytest.raises(ValueError, match='num_groups'):
        PointCloudEncoder(num_groups=0)
