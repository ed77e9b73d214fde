"""benchmarks/catalogue_contrastive.py with ``--config`` (issue 24 on the real packaged towers): each variant changes
only the config's ``con`` objective and the train batches, the config's towers, widths and other objectives stay;
the sigmoid variant builds on the real towers (it failed to: the packaged ``con`` sets ``mean_one_weights``)."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from m5mm.experiments.paper_tables.cell_config import cell_config
from m5mm.utils.config import load_config
from tests.script_module import load_script

REPO = Path(__file__).resolve().parents[1]
CACHED = 'configs/scale_5mod_packaged_cached.py'


def _bench():
    return load_script('benchmarks/catalogue_contrastive.py')


def _resolved(bench, variant: str, data_root: str, pretrained_root: str, config=str(REPO / CACHED)):
    args = argparse.Namespace(config=config, pretrained_root=pretrained_root, data_root=data_root, epochs=4,
                              budget=None, extra_options=json.dumps({'train_dataloader.batch_size': 16}))
    options = {**bench.variant_options(variant, '/neg.jsonl', bench.config_objectives(config),
                                       bench.train_batch_size(args)), **json.loads(args.extra_options)}
    spec = bench.cell_spec(variant, 1, args, '/unused', options)
    cfg, _ = cell_config(spec.cells()[0], data_root=spec.data_root, size=spec.size, config_dir=spec.config_dir,
                         cfg_options=spec.cfg_options)
    return cfg


@pytest.mark.parametrize('variant', ['today', 'multi_positive', 'mp_per_group2', 'mp_pg2_hard_negatives',
                                     'sigmoid_pg2', 'sigmoid_pg2_prior_bias', 'sigmoid_pg2_pairs',
                                     'sigmoid_pg2_pairs_loss_weights'])
def test_real_tower_variants_change_only_con_and_the_batches(variant, tmp_path):
    bench = _bench()
    written = load_config(str(REPO / CACHED), {'pretrained_root': '/towers'})
    cfg = _resolved(bench, variant, str(tmp_path), '/towers')
    con = cfg.model.objectives.con
    assert con.type == ('SigmoidContrastiveObjective' if variant.startswith('sigmoid') else
                        'InterModalityContrastiveObjective')
    assert con.get('bias') == (round(-math.log(16), 4) if variant == 'sigmoid_pg2_prior_bias' else None)
    assert con.get('group_by') == (None if variant == 'today' else 'instance')
    assert con.get('normalization') == ('pairs' if variant.startswith('sigmoid_pg2_pairs') else None)
    assert con.get('weight_mode') == ('loss' if variant.endswith('_loss_weights') else None)
    assert con.mean_one_weights is True   # the packaged config's setting survives every variant
    assert {k: v for k, v in cfg.model.objectives.items() if k != 'con'} == \
        {k: v for k, v in written.model.objectives.items() if k != 'con'}
    assert cfg.model.encoders == written.model.encoders and cfg.model.neck == written.model.neck   # as written
    loader = cfg.train_dataloader
    assert loader.batch_size == 16 and loader.num_workers == 0 and cfg.seed == 1
    assert loader.get('batch_sampler') == (None if variant in ('today', 'multi_positive') else
                                           dict(type='per_group', k=2))
    assert (loader.dataset.get('hard_negatives') is not None) == (variant == 'mp_pg2_hard_negatives')
    assert loader.dataset.manifest == 'features/manifest.jsonl'
    assert loader.dataset.modalities.image.pipeline == [dict(type='LoadCachedFeature',
                                                             pretrained='/towers/efficientnet_lite0')]
    assert cfg.optim.optimizer.lr == 1e-3


def test_the_tiny_default_is_unchanged(tmp_path):
    """Without --config the cells are the tiny from-scratch SCALE with the default objectives (earlier results
    stay reproducible: same resolved configs)."""
    bench = _bench()
    cfg = _resolved(bench, 'sigmoid_pg2', str(tmp_path), 'unused', config=None)
    assert cfg.model.objectives.con == dict(type='SigmoidContrastiveObjective', group_by='instance')
    assert cfg.train_dataloader.batch_size == 16   # the extra option; the tiny preset's 8 otherwise
    assert cfg.model.fusion.dim == 32


def test_sigmoid_variant_builds_on_the_real_towers(demo_root, packaged_root, tmp_path):
    from m5mm.datasets.loaders import build_dataset
    from m5mm.models.param_budget import build_model_from_config
    bench = _bench()
    cfg = _resolved(bench, 'sigmoid_pg2', str(demo_root), str(packaged_root))
    raw = load_config(str(REPO / 'configs' / '_base_' / 'datasets' / 'demo_5mod_packaged.py'),
                      {'data_root': str(demo_root), 'pretrained_root': str(packaged_root)})
    model = build_model_from_config(cfg, build_dataset(raw.train_dataloader.dataset).meta)
    con = model.objectives['con']
    assert type(con).__name__ == 'SigmoidContrastiveObjective'
    assert con.mean_one_weights and con.group_by == 'instance'


def test_hard_negatives_are_mined_from_the_manifest_the_model_was_trained_on():
    """A model trained on cached tower features embeds the cached features' manifest (the catalogue's own manifest
    holds no such features: mining it stopped with 'cached features ... do not come from this model')."""
    bench = _bench()
    assert bench.train_manifest(str(REPO / CACHED)) == 'features/manifest.jsonl'
    assert bench.train_manifest(None) is None
