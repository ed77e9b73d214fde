"""The fusion strategies of the benchmark (single-stream, co-attention, late, hybrid, SCALE), the
matching objective (it runs the fusion again on shuffled inputs), the fusion configs and their budgets."""
import glob
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from m5mm.models.objectives import MatchingObjective
from m5mm.models.objectives.matching_objective import derangement_partners, swap_rows
from m5mm.models.param_budget import (budget_table, budget_violations, build_model_from_config, config_budget,
                                      count_parameters)
from m5mm.registry import FUSIONS, MODELS
from m5mm.structures import EncoderOutput
from tests.test_models import batch_factory
from tests.test_models.batch_factory import make_batch, tiny_data_meta, tiny_encoder_cfgs

ROOT = Path(__file__).resolve().parents[2]
FUSION_CONFIGS = sorted(p for p in glob.glob(str(ROOT / 'configs/fusion/*.py')))
METHODS = ('scale', 'scale_uniform', 'single_stream', 'uniter', 'co_attention', 'clip', 'capture')

STRATEGIES = {
    'ScaleFusion': dict(type='ScaleFusion', dim=16, depth=1, num_heads=2),
    'SingleStreamFusion': dict(type='SingleStreamFusion', dim=16, depth=1, num_heads=2),
    'CoAttentionFusion': dict(type='CoAttentionFusion', dim=16, depth=2, num_heads=2),
    'HybridFusion': dict(type='HybridFusion', dim=16, depth=1, intra_depth=1, num_heads=2),
    'LateFusion': dict(type='LateFusion', dim=16),
}
MOD_SETS = {1: ('text',), 2: ('image', 'text'), 5: ('image', 'text', 'table', 'video', 'audio')}
# tokens, width of the synthetic encoder outputs; per-sample presence (B = 5): sample 4 has no
# modality at all, audio is absent from the whole batch
SPEC = {'image': (5, 12), 'text': (6, 16), 'table': (7, 16), 'video': (3, 8), 'audio': (4, 16)}
PRESENT = {'image': [1, 1, 0, 1, 0], 'text': [1, 0, 1, 1, 0], 'table': [0, 1, 1, 1, 0],
           'video': [1, 1, 1, 0, 0], 'audio': [0, 0, 0, 0, 0]}


def _encoded(modalities, seed=0, present=None):
    gen = torch.Generator().manual_seed(seed)
    present = present or PRESENT
    out = {}
    for m in modalities:
        n, d = SPEC[m]
        pres = torch.tensor(present[m], dtype=torch.bool)
        lengths = torch.randint(1, n + 1, (pres.numel(),), generator=gen)
        mask = (torch.arange(n)[None] < lengths[:, None]) & pres[:, None]
        tokens = torch.randn(pres.numel(), n, d, generator=gen)
        out[m] = EncoderOutput(tokens=tokens, mask=mask, pooled=tokens[:, 0], present=pres)
    return out


def _fusion(name, modalities, **kwargs):
    torch.manual_seed(0)
    cfg = dict(STRATEGIES[name], modalities=list(modalities), in_dims={m: SPEC[m][1] for m in modalities})
    cfg.update(kwargs)
    return FUSIONS.build(cfg)


def _all_outputs(out):
    return {**{f'tokens.{m}': t for m, t in out.tokens.items()},
            **{f'fused.{m}': t for m, t in out.fused.items()},
            'joint': out.joint, **{f'extras.{k}': t for k, t in out.extras.items()}}


def _corrupt_invalid(encoded, scale=50.0, seed=1):
    """Same outputs, with big random values at padding and absent samples' tokens."""
    gen = torch.Generator().manual_seed(seed)
    changed = {}
    for m, e in encoded.items():
        valid = e.mask & e.present[:, None]
        noise = torch.randn(e.tokens.shape, generator=gen) * scale
        changed[m] = EncoderOutput(tokens=torch.where(valid[..., None], e.tokens, noise), mask=e.mask,
                                   pooled=e.pooled, present=e.present)
    return changed


# ---------------------------------------------------------------- fusion strategies alone


@pytest.mark.parametrize('n_mods', sorted(MOD_SETS))
@pytest.mark.parametrize('name', sorted(STRATEGIES))
def test_outputs_finite_and_masked(name, n_mods):
    mods = MOD_SETS[n_mods]
    fusion = _fusion(name, mods)
    enc = _encoded(mods)
    out = fusion(enc)
    assert fusion.dim == 16 and set(out.tokens) == set(out.fused) == set(mods)
    for key, value in _all_outputs(out).items():
        assert torch.isfinite(value).all(), key
    for m in mods:
        valid = enc[m].mask & enc[m].present[:, None]
        assert out.tokens[m].shape == (5, SPEC[m][0], 16)
        assert torch.all(out.tokens[m][~valid] == 0)
        assert torch.all(out.fused[m][~enc[m].present] == 0)
        torch.testing.assert_close(out.fused[m], out.tokens[m][:, 0])
    for b in range(4):   # samples with at least one modality: joint = mean of the present fused vectors
        present = [m for m in mods if enc[m].present[b]]
        if not present:
            continue
        vectors = [out.fused[m][b] for m in present]
        if name == 'LateFusion':
            vectors = [F.normalize(v, dim=-1) for v in vectors]
        torch.testing.assert_close(out.joint[b], torch.stack(vectors).mean(0))


@pytest.mark.parametrize('n_mods', sorted(MOD_SETS))
@pytest.mark.parametrize('name', sorted(STRATEGIES))
def test_absent_and_padding_data_change_nothing(name, n_mods):
    mods = MOD_SETS[n_mods]
    fusion = _fusion(name, mods).eval()
    enc = _encoded(mods)
    out, again = _all_outputs(fusion(enc)), _all_outputs(fusion(_corrupt_invalid(enc)))
    for key, value in out.items():
        torch.testing.assert_close(again[key], value, msg=key)


@pytest.mark.parametrize('n_mods', sorted(MOD_SETS))
@pytest.mark.parametrize('name', sorted(STRATEGIES))
def test_every_fusion_parameter_gets_a_gradient(name, n_mods):
    mods = MOD_SETS[n_mods]
    fusion = _fusion(name, mods)
    if not list(fusion.parameters()):           # late fusion of towers as wide as `dim`: nothing to train
        assert name == 'LateFusion' and n_mods == 1
        return
    out = fusion(_encoded(mods))
    sum(v.sum() for v in _all_outputs(out).values()).backward()
    assert not [n for n, p in fusion.named_parameters() if p.grad is None]


@pytest.mark.parametrize('name', sorted(STRATEGIES))
def test_modalities_interact_only_within_a_sample(name):
    """Changing sample 0's image changes its text outputs (except for late fusion) and nothing of
    the other samples."""
    mods = MOD_SETS[2]
    fusion = _fusion(name, mods).eval()
    enc = _encoded(mods)
    changed = dict(enc)
    tokens = enc['image'].tokens.clone()
    tokens[0] += 3.0
    changed['image'] = EncoderOutput(tokens=tokens, mask=enc['image'].mask, pooled=tokens[:, 0],
                                     present=enc['image'].present)
    out, again = fusion(enc), fusion(changed)
    text_changed = not torch.allclose(out.tokens['text'][0], again.tokens['text'][0])
    assert text_changed == (name != 'LateFusion')
    changed_outputs = _all_outputs(again)
    for key, value in _all_outputs(out).items():
        torch.testing.assert_close(changed_outputs[key][1:], value[1:], msg=key)


def test_co_attention_streams_and_null_token():
    single = _fusion('CoAttentionFusion', ['text'])
    assert single.null_token is None and all(layer['text'].cross_attn is None for layer in single.layers)
    multi = _fusion('CoAttentionFusion', MOD_SETS[5])
    assert multi.null_token.shape == (1, 1, 16)
    assert len(multi.layers) == 2 and set(multi.layers[0]) == set(MOD_SETS[5])
    assert multi.layers[0]['image'] is not multi.layers[0]['text']            # one stream per modality
    enc = _encoded(MOD_SETS[5])
    # text attends to the null token + image (5 tokens) + table (7) + video (3) + audio (4, all absent)
    context, mask = multi._context('text', list(MOD_SETS[5]), {m: multi.embed(m, enc[m]) for m in enc},
                                   {m: enc[m].mask & enc[m].present[:, None] for m in enc})
    assert context.shape == (5, 1 + 5 + 7 + 3 + 4, 16)
    assert mask[:, 0].all() and not mask[4, 1:].any() and not mask[:, 1 + 5 + 7 + 3:].any()


def test_late_fusion_reference_and_parameters():
    mods = MOD_SETS[5]
    fusion = _fusion('LateFusion', mods)
    enc = _encoded(mods)
    out = fusion(enc)
    for m in mods:
        proj = fusion.proj[m]
        expected = proj(enc[m].tokens[:, 0]) if isinstance(proj, torch.nn.Linear) else enc[m].tokens[:, 0]
        torch.testing.assert_close(out.fused[m][enc[m].present], expected[enc[m].present])
    same = FUSIONS.build(dict(type='LateFusion', modalities=['text', 'audio'],
                              in_dims={'text': 16, 'audio': 16}))
    assert same.dim == 16 and sum(p.numel() for p in same.parameters()) == 0
    with pytest.raises(ValueError, match='set `dim`'):
        FUSIONS.build(dict(type='LateFusion', modalities=['text', 'image'],
                           in_dims={'text': 16, 'image': 12}))


def test_hybrid_intra_layers_see_one_modality():
    fusion = _fusion('HybridFusion', MOD_SETS[2]).eval()
    enc = _encoded(MOD_SETS[2])
    text = fusion._embed('text', enc['text'])
    other = _encoded(MOD_SETS[2], seed=5)
    torch.testing.assert_close(fusion._embed('text', enc['text']), text)
    assert not torch.allclose(fusion._embed('image', other['image']), fusion._embed('image', enc['image']))
    assert set(fusion.intra) == set(MOD_SETS[2])
    with pytest.raises(ValueError, match='intra_depth'):
        _fusion('HybridFusion', MOD_SETS[2], intra_depth=0)


@pytest.mark.parametrize('name', ['CoAttentionFusion', 'LateFusion', 'HybridFusion', 'SingleStreamFusion'])
def test_clear_errors(name):
    fusion = _fusion(name, MOD_SETS[2])
    enc = _encoded(MOD_SETS[5])
    with pytest.raises(KeyError, match='unknown modalities'):
        fusion(enc)
    with pytest.raises((KeyError, ValueError), match='got no encoded modality'):
        fusion({})


# ---------------------------------------------------------------- matching loss


def test_derangement_partners_are_real_shuffles():
    for seed in range(40):
        gen = torch.Generator().manual_seed(seed)
        eligible = torch.rand(9, generator=gen) < 0.6
        partner = derangement_partners(eligible, gen)
        idx = eligible.nonzero(as_tuple=True)[0]
        assert torch.equal(partner[~eligible], torch.arange(9)[~eligible])        # others keep their data
        assert sorted(partner[idx].tolist()) == idx.tolist()                      # a permutation of them
        if idx.numel() >= 2:
            assert not (partner[idx] == idx).any()                                # nobody paired with itself
    for pattern in ([0, 0, 0], [0, 1, 0]):                                         # impossible: identity
        eligible = torch.tensor(pattern, dtype=torch.bool)
        assert torch.equal(derangement_partners(eligible), torch.arange(3))


def _matching(fusion_name='SingleStreamFusion', mods=MOD_SETS[5], **kwargs):
    fusion = _fusion(fusion_name, mods)
    torch.manual_seed(1)
    return fusion, MatchingObjective(dim=fusion.dim, **kwargs)


def test_matching_loss_equals_reference():
    present = {'image': [1, 1, 1, 0, 1, 1], 'text': [1, 1, 0, 1, 0, 1], 'table': [1, 0, 0, 1, 0, 1],
               'video': [0, 1, 0, 1, 0, 0], 'audio': [0, 0, 0, 0, 0, 0]}
    enc = _encoded(MOD_SETS[5], present=present)
    fusion, loss = _matching(modality='image')
    eligible = loss.eligible(enc, 'image')
    assert eligible.tolist() == [True, True, False, False, False, True]   # image + another modality
    out = loss.compute(encoded=enc, fuse=fusion, fused_output=fusion(enc),
                       generator=torch.Generator().manual_seed(3))

    partner = derangement_partners(eligible, torch.Generator().manual_seed(3))
    rows = eligible.nonzero(as_tuple=True)[0]
    assert not (partner[rows] == rows).any()
    corrupted = dict(enc, image=swap_rows(enc['image'], partner))
    torch.testing.assert_close(corrupted['image'].tokens[rows], enc['image'].tokens[partner[rows]])
    pos, neg = fusion(enc).extras['cls'][rows], fusion(corrupted).extras['cls'][rows]
    logits = loss.head(torch.cat([pos, neg]))
    labels = torch.tensor([1] * len(rows) + [0] * len(rows))
    torch.testing.assert_close(out['loss_match'], F.cross_entropy(logits, labels))
    torch.testing.assert_close(out['acc_match'], (logits.argmax(-1) == labels).float().mean())


def test_matching_without_negatives_is_a_tied_zero():
    present = {m: [1, 0, 0, 0] for m in MOD_SETS[2]}    # one sample with both modalities: no shuffle possible
    enc = _encoded(MOD_SETS[2], present=present)
    fusion, loss = _matching(mods=MOD_SETS[2])
    out = loss.compute(encoded=enc, fuse=fusion, fused_output=fusion(enc))
    assert out['loss_match'] == 0 and out['acc_match'] == 0
    out['loss_match'].backward()
    assert not [n for n, p in [*loss.named_parameters(), *fusion.named_parameters()] if p.grad is None]


def test_matching_modality_choice_and_errors():
    enc = _encoded(MOD_SETS[5])       # eligible counts: image 3, text 3, table 3, video 3, audio 0
    fusion, loss = _matching()
    picks = {loss.pick_modality(enc, torch.Generator().manual_seed(s)) for s in range(30)}
    assert picks == {'image', 'text', 'table', 'video'}
    co, co_loss = _matching('CoAttentionFusion', feature='cls')
    with pytest.raises(KeyError, match="extras\\['cls'\\]"):
        co_loss.compute(encoded=enc, fuse=co, fused_output=co(enc))
    out = MatchingObjective(dim=16).compute(encoded=enc, fuse=co, fused_output=co(enc))   # 'auto': joint
    assert torch.isfinite(out['loss_match'])
    with pytest.raises(ValueError, match='needs the backbone'):
        MatchingObjective()
    with pytest.raises(KeyError, match="'audio' is not encoded"):
        MatchingObjective(dim=16, modality='audio').compute(encoded={m: enc[m] for m in MOD_SETS[2]}, fuse=fusion,
                                                            fused_output=None)


# ---------------------------------------------------------------- through the pretrainer


def _masked_objectives(mods):
    objectives = {}
    for m in mods:
        if m == 'text':
            objectives['mlm'] = dict(type='MaskedLanguageModelObjective', modality='text', mask_ratio=0.3)
        elif m == 'table':
            objectives['mem'] = dict(type='MaskedEntityModelObjective', modality='table', mask_ratio=0.3)
        else:
            objectives[f'mfm_{m}'] = dict(type='MaskedFeatureRegressionObjective', modality=m)
    return objectives


def _recipe(name, mods):
    """Each strategy with its published objective (contrastive needs 2 modalities)."""
    con = {'con': dict(type='InterModalityContrastiveObjective')} if len(mods) > 1 else {}
    if name == 'LateFusion':
        return con or _masked_objectives(mods)
    if name in ('SingleStreamFusion', 'CoAttentionFusion'):
        return {**_masked_objectives(mods), 'match': dict(type='MatchingObjective')}
    return {**con, **_masked_objectives(mods)}


def _pretrainer(name, mods):
    torch.manual_seed(0)
    fusion = dict(STRATEGIES[name])
    if name == 'LateFusion':       # dim from the encoders' common width: no parameters of its own
        del fusion['dim']
    return MODELS.build(dict(type='MultiModalPretrainer', encoders=tiny_encoder_cfgs(16, modalities=mods),
                             fusion=fusion, objectives=_recipe(name, mods), data_meta=tiny_data_meta(mods)))


ABSENT = {'image': [1, 3], 'text': [2, 3], 'table': [3], 'video': [0, 3], 'audio': [0, 1, 2, 3]}


@pytest.mark.parametrize('n_mods', sorted(MOD_SETS))
@pytest.mark.parametrize('name', ['SingleStreamFusion', 'CoAttentionFusion', 'LateFusion', 'HybridFusion'])
def test_pretrainer_trains_every_parameter(name, n_mods):
    """Sample 3 has no modality; with 5 modalities audio is absent from the whole batch."""
    mods = MOD_SETS[n_mods]
    model = _pretrainer(name, mods)
    batch = make_batch(4, modalities=mods, absent={m: ABSENT[m] for m in mods}, seed=1)
    torch.manual_seed(0)
    out = model(batch)
    assert all(torch.isfinite(v).all() for v in out.values())
    # matching needs two modalities: the model drops it with one
    assert ('loss_match' in out) == (name in ('SingleStreamFusion', 'CoAttentionFusion') and n_mods > 1)
    sum(v for k, v in out.items() if k.startswith('loss')).backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]
    feats = model.extract_features(batch)
    assert torch.isfinite(feats['joint']).all() and torch.all(feats['fused'][mods[0]][3] == 0)


@pytest.mark.parametrize('name', ['SingleStreamFusion', 'CoAttentionFusion', 'LateFusion', 'HybridFusion'])
def test_pretrainer_absent_data_changes_nothing(name):
    mods = MOD_SETS[5]
    model = _pretrainer(name, mods)
    batch = make_batch(4, modalities=mods, absent={m: ABSENT[m] for m in mods}, seed=2)
    changed = {m: dict(v) if m != 'meta' else v for m, v in batch.items()}
    changed['image']['pixels'] = batch['image']['pixels'].clone()
    changed['image']['pixels'][[1, 3]] = 9.0                            # absent images
    changed['audio']['mel'] = torch.randn_like(batch['audio']['mel']) * 5    # audio absent everywhere
    torch.manual_seed(3)
    out = model(batch)
    torch.manual_seed(3)
    again = model(changed)
    for key, value in out.items():
        torch.testing.assert_close(again[key], value, msg=key)


def test_matching_in_the_pretrainer_runs_the_backbone_fusion():
    model = _pretrainer('SingleStreamFusion', MOD_SETS[2])
    match = model.objectives['match']
    assert match.head[0].in_features == model.backbone.fusion.dim      # sized from the backbone
    assert match.min_modalities == 2 and match.modalities == ()
    calls = []
    model.backbone.fusion.register_forward_hook(lambda mod, args, out: calls.append(args[0]))
    model(make_batch(4, modalities=MOD_SETS[2]))
    assert len(calls) == 2                                             # the negatives shuffle one modality
    assert sum(calls[1][m] is not calls[0][m] for m in MOD_SETS[2]) == 1


def test_none_entries_drop_modalities_and_objectives():
    encoders = {**tiny_encoder_cfgs(16, modalities=MOD_SETS[2]), 'audio': None}
    model = MODELS.build(dict(type='MultiModalPretrainer', encoders=encoders,
                              fusion=dict(type='SingleStreamFusion', dim=16, depth=1, num_heads=2),
                              objectives={**_masked_objectives(MOD_SETS[2]), 'mfm_audio': None},
                              data_meta=tiny_data_meta()))
    assert model.modalities == ['image', 'text'] and set(model.objectives) == {'mlm', 'mfm_image'}


# ---------------------------------------------------------------- shipped configs and budgets


def test_there_is_a_2_and_a_5_modality_config_per_method():
    names = {Path(p).stem for p in FUSION_CONFIGS}
    assert names == {f'{method}_{n}mod' for method in METHODS for n in (2, 5)}


@pytest.mark.parametrize('path', FUSION_CONFIGS, ids=lambda p: Path(p).stem)
def test_fusion_config_builds_and_trains_a_step(path, monkeypatch):
    """The config's model on the tiny tokenizer meta, one step on a batch of the demo data's shapes."""
    for key, value in dict(image_size=64, frame_size=64, n_mels=80, audio_frames=251, text_len=36,
                           table_len=64).items():
        monkeypatch.setitem(batch_factory.SIZES, key, value)
    torch.manual_seed(0)
    model = build_model_from_config(path, tiny_data_meta())
    expected = 2 if path.endswith('_2mod.py') else 5
    assert len(model.modalities) == expected
    batch = make_batch(2, modalities=model.modalities, absent={m: [1] for m in model.modalities[1:]}, seed=1)
    out = model(batch)
    assert all(torch.isfinite(v).all() for v in out.values())
    sum(v for k, v in out.items() if k.startswith('loss')).backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


def test_parameter_budgets_are_comparable():
    rows = [config_budget(p) for p in FUSION_CONFIGS]
    for row in rows:
        assert row['total'] == sum(row[part] for part in ('encoders', 'fusion', 'heads', 'other'))
        assert row['encoders'] > 0
    assert not budget_violations(rows, tolerance=0.10)
    clip = [r for r in rows if r['config'].startswith('clip')]
    assert all(r['fusion'] == 0 for r in clip)                 # late fusion: no parameters of its own
    table = budget_table(rows)
    assert all(f'| {r["config"]} |' in table for r in rows)
    skewed = [dict(rows[0], config='big', total=rows[0]['total'] * 2)] + rows
    assert any(msg.startswith('big:') for msg in budget_violations(skewed))


def test_count_parameters_counts_shared_tensors_once():
    model = _pretrainer('HybridFusion', ('text', 'table'))
    assert model.backbone.encoders['table'].backbone is model.backbone.encoders['text'].backbone
    unique = {id(p): p.numel() for p in model.parameters()}
    counts = count_parameters(model)
    assert counts['total'] == sum(unique.values())
    assert counts['fusion'] == sum(p.numel() for p in model.backbone.fusion.parameters())
