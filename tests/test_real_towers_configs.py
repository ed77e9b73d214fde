"""The real-tower benchmark's row configs (benchmarks/real_towers.py) and the packaged catalogue bases build
offline: the right model per row, the modality subset, the cached image / video inputs, every catalogue."""
from __future__ import annotations

from pathlib import Path

import pytest

from m5mm.models.param_budget import build_model_from_config
from m5mm.utils.config import load_config
from tests.script_module import load_script

REPO = Path(__file__).resolve().parents[1]
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _bench():
    return load_script('benchmarks/real_towers.py')


@pytest.mark.parametrize('catalogue,kind', [('bazaar', 'bazaar'), ('emoji', 'emoji')])
def test_packaged_catalogue_bases_read_the_real_towers_inputs(catalogue, kind):
    cfg = load_config(str(REPO / 'configs' / '_base_' / 'datasets' / f'{catalogue}_5mod_packaged.py'),
                      {'pretrained_root': '/towers'})
    for loader in LOADERS:
        dataset = cfg[loader].dataset
        assert dataset.data_root == f'data/{catalogue}'
        assert dataset.generate_if_missing.type == kind
        assert dataset.tokenizer == dict(path='/towers/all_minilm_l6_v2')
        assert dataset.modalities.image.pipeline[-1] == dict(type='ProcessImage',
                                                             pretrained='/towers/efficientnet_lite0')
        assert dataset.modalities.video.pipeline[0]['pretrained'] == '/towers/efficientnet_lite0'
        assert dataset.modalities.audio.source == 'raw'


def _args(bench, tmp_path, **kw):
    return bench.parse_args(['--data-dir', str(tmp_path), '--pretrained-root', '/towers', '--epochs', '3', *kw.get(
        'extra', [])])


EXPECTED = {   # row -> (model type, modalities kept, harmonizer type, reads cached image / video)
    'concat_ti': ('FrozenConcatModel', ['text', 'image'], None, True),
    'concat_all': ('FrozenConcatModel', None, None, True),
    'scratch': ('ScalePretrainer', None, 'CosineGraphHarmonizer', False),
    'clip_ti': ('MultiModalPretrainer', ['text', 'image'], None, True),
    'scale_t': ('ScalePretrainer', ['text'], 'CosineGraphHarmonizer', True),
    'scale_ti': ('ScalePretrainer', ['text', 'image'], 'CosineGraphHarmonizer', True),
    'scale_titab': ('ScalePretrainer', ['text', 'image', 'table'], 'CosineGraphHarmonizer', True),
    'scale_titabv': ('ScalePretrainer', ['text', 'image', 'table', 'video'], 'CosineGraphHarmonizer', True),
    'scale_all': ('ScalePretrainer', None, 'CosineGraphHarmonizer', True),
    'uniform_all': ('ScalePretrainer', None, 'UniformHarmonizer', True),
    'scale_all_pg2': ('ScalePretrainer', None, 'CosineGraphHarmonizer', True),
    'scale_all_pg2_listing': ('ScalePretrainer', None, 'CosineGraphHarmonizer', True),
    'scale_all_pg2_sigmoid': ('ScalePretrainer', None, 'CosineGraphHarmonizer', True),
}


def test_every_row_has_an_expectation():
    assert set(_bench().ROWS) == set(EXPECTED)


@pytest.mark.parametrize('catalogue', ['demo', 'bazaar', 'emoji'])
@pytest.mark.parametrize('row', sorted(EXPECTED))
def test_row_config_resolves_offline(row, catalogue, tmp_path):
    bench = _bench()
    cfg = bench.row_config(row, catalogue, 2, _args(bench, tmp_path))
    model_type, modalities, harmonizer, cached = EXPECTED[row]
    assert cfg.model.type == model_type
    if modalities is not None:
        assert sorted(cfg.model.modalities) == sorted(modalities)
    assert (cfg.model.get('harmonizer') or {}).get('type') == harmonizer
    if row == 'clip_ti':
        assert cfg.model.fusion == dict(type='LateFusion', dim=256)
        assert list(cfg.model.objectives) == ['con', 'rkd']   # contrastive + distillation, not SCALE's masked ones
    assert cfg.seed == 2 and cfg.train_cfg.max_epochs == 3
    for loader in LOADERS:
        dataset = cfg[loader].dataset
        assert dataset.data_root == str(tmp_path / catalogue)
        assert dataset.generate_if_missing.type == catalogue
        image = dataset.modalities.get('image')
        if image is None:
            assert modalities == ['text']
        elif cached:
            assert dataset.manifest == 'features/manifest.jsonl'
            assert image == dict(source='feature', pipeline=[
                dict(type='LoadCachedFeature', pretrained='/towers/efficientnet_lite0')])
        else:
            assert image.get('source', 'raw') == 'raw' and 'manifest' not in dataset
        if modalities is not None:
            assert sorted(m for m, v in dataset.modalities.items() if v is not None) == sorted(modalities)
    if row.startswith('scale_all_pg2'):   # grouped batches and positives; the cross-listing objective on top
        assert cfg.model.objectives.con.group_by == 'instance'
        assert cfg.train_dataloader.batch_sampler == dict(type='per_group', k=2)
        assert ('listing' in cfg.model.objectives) == row.endswith('listing')
        # the sigmoid row: SigLIP's loss, its mean over the valid pairs, the config's mean-one weights kept
        assert (cfg.model.objectives.con.type == 'SigmoidContrastiveObjective') == row.endswith('sigmoid')
        if row.endswith('sigmoid'):
            assert cfg.model.objectives.con.normalization == 'pairs' and cfg.model.objectives.con.mean_one_weights
    if row in ('scale_all', 'uniform_all', 'clip_ti'):   # the benchmark's --cfg-options reach the trained rows
        other = bench.row_config(row, catalogue, 0, _args(bench, tmp_path, extra=['--cfg-options',
                                                                                  'model.mask_ratio=0.3']))
        assert other.model.mask_ratio == 0.3
    elif row == 'scratch':
        other = bench.row_config(row, catalogue, 0, _args(bench, tmp_path, extra=['--cfg-options',
                                                                                  'model.mask_ratio=0.3']))
        assert other.model.mask_ratio == cfg.model.mask_ratio


@pytest.mark.parametrize('row', ['clip_ti', 'uniform_all', 'scale_all_pg2_listing'])
def test_real_tower_rows_build_their_model(row, demo_root, packaged_root, tmp_path):
    """The CLIP and uniform rows build on the real packaged towers (frozen image tower, late fusion / uniform
    harmonizer), from the demo data's meta."""
    from m5mm.datasets.loaders import build_dataset
    bench = _bench()
    (tmp_path / 'demo').symlink_to(demo_root)
    args = bench.parse_args(['--data-dir', str(tmp_path), '--pretrained-root', str(packaged_root)])
    cfg = bench.row_config(row, 'demo', 0, args)
    raw = load_config(str(REPO / 'configs' / '_base_' / 'datasets' / 'demo_5mod_packaged.py'),
                      {'data_root': str(tmp_path / 'demo'), 'pretrained_root': str(packaged_root)})
    meta = build_dataset(raw.train_dataloader.dataset).meta
    model = build_model_from_config(cfg, meta)
    kept = ['text', 'image'] if row == 'clip_ti' else ['image', 'text', 'table', 'video', 'audio']
    assert sorted(model.modalities) == sorted(kept)
    backbone = model.backbone
    assert not any(p.requires_grad for p in backbone.encoders['image'].backbone.parameters())
    if row == 'clip_ti':
        assert type(backbone.fusion).__name__ == 'LateFusion' and backbone.harmonizer is None
    elif row == 'scale_all_pg2_listing':
        assert type(model.objectives['listing']).__name__ == 'CrossListingObjective'
    else:
        assert type(backbone.harmonizer).__name__ == 'UniformHarmonizer'
