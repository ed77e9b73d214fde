"""Patch / frame dropout: fewer tokens in training, none dropped at evaluation or in a masked pass."""
import pytest
import torch

from m5mm.registry import ENCODERS
from m5mm.models.encoders.token_dropout import keep_indices
from tests.test_models.batch_factory import make_batch, tiny_encoder_cfgs


def _encoder(m, **kwargs):
    torch.manual_seed(0)
    return ENCODERS.build(dict(tiny_encoder_cfgs(32)[m], **kwargs))


def test_keep_indices_keep_valid_tokens_first_in_order():
    valid = torch.tensor([[True, True, True, True], [False, True, False, True]])
    ids = keep_indices(valid, 0.5)
    assert ids.shape == (2, 2) and ids[1].tolist() == [1, 3]
    assert (ids[0][1:] > ids[0][:-1]).all()


def test_patch_dropout_encodes_a_share_of_the_patches_in_training_only():
    batch = make_batch(4)
    encoder = _encoder('image', patch_keep=0.25).train()
    out = encoder(batch['image'])
    patches = batch['image']['pixels'].shape[-1] // 16
    assert out.tokens.shape[1] == 1 + round(0.25 * patches ** 2)
    assert encoder(batch['image'], mask_ratio=0.5).tokens.shape[1] == 1 + patches ** 2    # masked pass: all
    full = encoder.eval()(batch['image'])
    reference = _encoder('image').eval()(batch['image'])
    torch.testing.assert_close(full.tokens, reference.tokens)
    with pytest.raises(ValueError, match='patch_keep'):
        _encoder('image', patch_keep=0.0)


def test_patch_dropout_keeps_each_patch_with_its_position():
    """Kept patches get the outputs the full encoder gives when every other patch is masked out."""
    batch = make_batch(2, absent={})
    encoder = _encoder('image', patch_keep=0.5).train()
    torch.manual_seed(3)
    ids = keep_indices(torch.ones(2, 16, dtype=torch.bool), 0.5)
    torch.manual_seed(3)
    dropped = encoder(batch['image'])
    assert dropped.targets.shape[1] == 1 + ids.shape[1]
    full_targets = encoder.eval()(batch['image']).targets
    torch.testing.assert_close(dropped.targets[:, 1:], full_targets[:, 1:].gather(
        1, ids[..., None].expand(-1, -1, full_targets.shape[-1])))


def test_frame_dropout_runs_the_frame_encoder_on_fewer_frames():
    batch = make_batch(4)
    encoder = _encoder('video', frame_keep=0.5).train()
    seen = []
    encoder.frame_encoder.register_forward_hook(lambda mod, args, out: seen.append(args[0]['pixels'].shape[0]))
    frames = batch['video']['frames'].shape[1]
    out = encoder(batch['video'])
    assert seen == [4 * round(0.5 * frames)] and out.tokens.shape[1] == 1 + round(0.5 * frames)
    assert out.mask[~batch['video']['present']].sum() == 0
    encoder.eval()(batch['video'])
    assert seen[-1] == 4 * frames
