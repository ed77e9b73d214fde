import numpy as np
import pytest
import torch

from m5mm.evaluation import drop_modalities, extract_features, load_features, save_features

from .conftest import collate


def _batches(samples, dims, size=4, order=None):
    order = list(range(len(samples))) if order is None else order
    return [collate([samples[i] for i in order[s:s + size]], dims) for s in range(0, len(order), size)]


def _reference(model, samples, dims):
    with torch.no_grad():
        return model.extract_features(collate(samples, dims))


def test_joint_features_sorted_by_index(tiny_data):
    samples, dims, model = tiny_data
    shuffled = list(np.random.default_rng(0).permutation(len(samples)))
    out = extract_features(model, _batches(samples, dims, order=shuffled))
    ref = _reference(model, samples, dims)
    assert out['ids'] == [s['id'] for s in samples]
    assert out['features'].dtype == np.float32 and out['features'].shape == (len(samples), 3)
    np.testing.assert_allclose(out['features'], ref['joint'].numpy(), rtol=1e-5, atol=1e-6)
    assert out['category'].tolist() == [s['category'] for s in samples]
    assert out['instance'].tolist() == [s['instance'] for s in samples]
    assert out['split'].tolist() == ['test'] * len(samples)
    assert out['present']['image'].tolist() == [s['image'] is not None for s in samples]
    assert model.training                                              # train mode restored


def test_model_runs_in_eval_mode(tiny_data):
    samples, dims, model = tiny_data
    seen = []
    original = model.extract_features
    model.extract_features = lambda batch: (seen.append(model.training), original(batch))[1]
    extract_features(model, _batches(samples, dims))
    assert seen and not any(seen)


@pytest.mark.parametrize('combine', ['sum', 'mean', 'concat'])
def test_fused_combination_uses_present_modalities_only(tiny_data, combine):
    samples, dims, model = tiny_data
    out = extract_features(model, _batches(samples, dims), kind='fused', combine=combine,
                           keep_modalities=True)
    ref = _reference(model, samples, dims)
    parts = [ref['fused'][m] * ref['present'][m].float()[:, None] for m in ('image', 'text')]
    if combine == 'concat':
        expected = torch.cat(parts, 1)
    else:
        expected = parts[0] + parts[1]
        if combine == 'mean':
            count = sum(ref['present'][m].float() for m in ('image', 'text'))
            expected = expected / count.clamp_min(1)[:, None]
    np.testing.assert_allclose(out['features'], expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out['modality_features']['text'], ref['fused']['text'].numpy(),
                               rtol=1e-5, atol=1e-6)


def test_subset_of_modalities_at_query_time(tiny_data):
    samples, dims, model = tiny_data
    out = extract_features(model, _batches(samples, dims), kind='pooled', modalities=['text'])
    assert all(not call['image'].any() for call in model.calls)        # the model never saw an image
    ref = _reference(model, samples, dims)
    expected = ref['pooled']['text'] * ref['present']['text'].float()[:, None]
    np.testing.assert_allclose(out['features'], expected.numpy(), rtol=1e-5, atol=1e-6)
    assert not out['present']['image'].any()


def test_drop_modalities_copies_and_checks_names(tiny_data):
    samples, dims, _ = tiny_data
    batch = collate(samples[:4], dims)
    before = batch['image']['present'].clone()
    dropped = drop_modalities(batch, keep=['text'])
    assert not dropped['image']['present'].any()
    assert torch.equal(dropped['text']['present'], batch['text']['present'])
    assert torch.equal(batch['image']['present'], before)               # input untouched
    assert dropped['image']['feats'] is batch['image']['feats']
    with pytest.raises(KeyError, match='audio'):
        drop_modalities(batch, keep=['audio'])


def test_npz_round_trip(tmp_path, tiny_data):
    samples, dims, model = tiny_data
    out = extract_features(model, _batches(samples, dims), kind='fused', keep_modalities=True)
    path = save_features(str(tmp_path / 'sub' / 'gallery'), out)
    assert path.endswith('gallery.npz')
    back = load_features(path)
    assert back['ids'] == out['ids']
    np.testing.assert_array_equal(back['features'], out['features'])
    assert back['features'].dtype == np.float32
    for key in ('category', 'instance', 'index', 'split'):
        np.testing.assert_array_equal(back[key], out[key])
    for m in dims:
        np.testing.assert_array_equal(back['present'][m], out['present'][m])
        np.testing.assert_array_equal(back['modality_features'][m], out['modality_features'][m])
    with np.load(path, allow_pickle=False) as npz:                        # readable without pickle
        assert npz['ids'].dtype.kind == 'U'


def test_errors(tmp_path, tiny_data):
    samples, dims, model = tiny_data
    with pytest.raises(TypeError, match='extract_features'):
        extract_features(torch.nn.Linear(2, 2), _batches(samples, dims))
    with pytest.raises(ValueError, match='kind'):
        extract_features(model, _batches(samples, dims), kind='mixed')
    with pytest.raises(ValueError, match='no batch'):
        extract_features(model, [])
    with pytest.raises(ValueError, match='rows'):
        save_features(str(tmp_path / 'x.npz'),
                      {'ids': ['a', 'b'], 'features': np.zeros((2, 3)), 'category': [1]})
    with pytest.raises(FileNotFoundError):
        load_features(str(tmp_path / 'missing.npz'))


def test_with_accelerator(tiny_data):
    pytest.importorskip('accelerate')
    from m5mm.utils.accelerator import build_accelerator
    samples, dims, model = tiny_data
    loader = torch.utils.data.DataLoader(samples, batch_size=4, collate_fn=lambda s: collate(s, dims))
    acc = build_accelerator()   # as the trainer makes it: one precision for every test of a process
    model_p, loader_p = acc.prepare(model, loader)
    out = extract_features(model_p, loader_p, accelerator=acc)
    ref = _reference(model, samples, dims)
    assert out['ids'] == [s['id'] for s in samples]
    np.testing.assert_allclose(out['features'], ref['joint'].numpy(), rtol=1e-5, atol=1e-6)
