"""ScaleFusion: shapes, masks honoured, joint modes, errors."""
import pytest
import torch

from m5mm.registry import FUSIONS
from m5mm.structures import EncoderOutput

SPEC = {'image': (5, 12), 'text': (7, 16), 'audio': (3, 16)}    # tokens, width


def _encoded(batch=4, seed=0, present=None):
    gen = torch.Generator().manual_seed(seed)
    present = present or {'image': [1, 1, 0, 0], 'text': [1, 0, 1, 0], 'audio': [1, 1, 1, 0]}
    out = {}
    for m, (n, d) in SPEC.items():
        pres = torch.tensor(present[m], dtype=torch.bool)
        mask = pres[:, None].expand(batch, n).clone()
        mask[0, n - 1] = False                                   # some padding
        tokens = torch.randn(batch, n, d, generator=gen)
        out[m] = EncoderOutput(tokens=tokens, mask=mask, pooled=tokens[:, 0], present=pres)
    return out


def _fusion(**kwargs):
    torch.manual_seed(0)
    cfg = dict(type='ScaleFusion', modalities=list(SPEC), dim=16, depth=2, num_heads=2,
               in_dims={m: d for m, (_, d) in SPEC.items()}, max_tokens={'text': 8})
    cfg.update(kwargs)
    return FUSIONS.build(cfg)


def test_shapes_and_projection():
    fusion = _fusion()
    assert isinstance(fusion.embed.proj['image'], torch.nn.Linear)
    assert isinstance(fusion.embed.proj['text'], torch.nn.Identity)
    out = fusion(_encoded())
    for m, (n, _) in SPEC.items():
        assert out.tokens[m].shape == (4, n, 16) and out.fused[m].shape == (4, 16)
        torch.testing.assert_close(out.fused[m], out.tokens[m][:, 0])    # first token (0 when absent)
    assert out.joint.shape == (4, 16) and out.extras['cls'].shape == (4, 16)
    assert torch.isfinite(out.joint).all()


def test_absent_and_padding_data_change_nothing():
    fusion = _fusion().eval()
    enc = _encoded()
    out = fusion(enc)
    changed = {m: EncoderOutput(**vars(e)) for m, e in enc.items()}
    changed['image'].tokens = enc['image'].tokens.clone()
    changed['image'].tokens[2:] = 50.0                  # samples 2, 3 have no image
    changed['text'].tokens = enc['text'].tokens.clone()
    changed['text'].tokens[0, -1] = -9.0                # padding token of sample 0
    again = fusion(changed)
    for m in SPEC:
        torch.testing.assert_close(again.tokens[m], out.tokens[m])
        torch.testing.assert_close(again.fused[m], out.fused[m])
    torch.testing.assert_close(again.joint, out.joint)
    assert torch.all(out.fused['image'][2:] == 0) and torch.all(out.tokens['text'][0, -1] == 0)


def test_joint_is_mean_of_present_or_cls():
    fusion = _fusion()
    enc = _encoded()
    out = fusion(enc)
    for b in range(3):
        present = [m for m in SPEC if enc[m].present[b]]
        expected = torch.stack([out.fused[m][b] for m in present]).mean(0)
        torch.testing.assert_close(out.joint[b], expected)
    torch.testing.assert_close(out.joint[3], out.extras['cls'][3])   # no modality: the fusion [CLS]
    cls_fusion = _fusion(joint='cls')
    out = cls_fusion(enc)
    torch.testing.assert_close(out.joint, out.extras['cls'])


def test_modality_embedding_and_gradients():
    fusion = _fusion(modality_embed=True)
    assert fusion.embed.type_embed.shape == (3, 16)
    out = fusion(_encoded())
    (sum(t.sum() for t in out.tokens.values()) + out.joint.sum()).backward()
    assert all(p.grad is not None for p in fusion.parameters())


def test_clear_errors():
    fusion = _fusion()
    enc = _encoded()
    with pytest.raises(KeyError, match='unknown modalities'):
        fusion({**enc, 'video': enc['audio']})
    long_text = EncoderOutput(tokens=torch.randn(4, 9, 16), mask=torch.ones(4, 9, dtype=torch.bool),
                              pooled=torch.randn(4, 16), present=torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match='max_tokens'):
        fusion({**enc, 'text': long_text})
    with pytest.raises(KeyError, match='unknown modalities'):
        _fusion(in_dims={'video': 3})
