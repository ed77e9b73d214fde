"""The transformer layers: the attention mask is prepared once per stack and dropped when every key is valid."""
import torch

from m5mm.models.layers import TransformerEncoder, attention_mask


def test_attention_mask_prepared_once_and_none_when_all_keys_are_valid():
    assert attention_mask(torch.ones(2, 5, dtype=torch.bool)) is None
    mask = torch.tensor([[True, True, False], [False, False, False]])
    prepared = attention_mask(mask)
    assert prepared.shape == (2, 1, 1, 3)
    assert prepared[0, 0, 0].tolist() == [True, True, False]
    assert prepared[1, 0, 0].tolist() == [True, False, False]          # an empty row attends to key 0
    assert attention_mask(prepared) is prepared


def test_unmasked_and_masked_paths_agree_and_padding_is_ignored():
    torch.manual_seed(0)
    encoder = TransformerEncoder(dim=16, depth=2, num_heads=2).eval()
    x = torch.randn(3, 6, 16)
    full = torch.ones(3, 6, dtype=torch.bool)
    torch.testing.assert_close(encoder(x, full), encoder(x, None))
    mask = full.clone()
    mask[1, 4:] = False
    changed = x.clone()
    changed[1, 4:] = 100.0                                              # padding: must not matter
    torch.testing.assert_close(encoder(changed, mask)[1, :4], encoder(x, mask)[1, :4])
