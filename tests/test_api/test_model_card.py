"""The model card names no folder of the machine it was made on."""
from __future__ import annotations

import os

from m5mm.api.model_card import portable_path, render_card


def test_card_paths_are_relative_or_short(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inside = str(tmp_path / 'data' / 'demo')
    outside = '/home/someone/secret/catalogue/manifest.jsonl'
    config = dict(model=dict(type='ScaleModel'), modalities=['text', 'image'], feature='joint',
                  data_meta=dict(categories=['a', 'b']),
                  provenance=dict(checkpoint='/srv/runs/scale_5mod/checkpoints/step_00000056',
                                  config=os.path.join(tmp_path, 'work_dirs', 'scale_5mod', 'config.py'), step=56))
    evaluation = dict(data=dict(source=outside, num_records=3, num_categories=2),
                      results={'retrieval_coarse': {'mAP@10': 0.5}},
                      evaluated_on=dict(data_root=inside, splits=['query', 'gallery']))
    card = render_card(config, evaluation)
    assert str(tmp_path) not in card and '/home/' not in card and '/srv/' not in card
    assert '- source: `catalogue/manifest.jsonl`' in card
    assert 'On the query/gallery splits of `data/demo`' in card
    assert '- checkpoint: `checkpoints/step_00000056`' in card
    assert f'- config: `{os.path.join("work_dirs", "scale_5mod", "config.py")}`' in card
    assert '- step: `56`' in card


def test_portable_path_leaves_relative_paths_and_other_values():
    assert portable_path('data/demo') == 'data/demo'
    assert portable_path(3) == 3
    assert portable_path('/manifest.jsonl', start='/work') == 'manifest.jsonl'
