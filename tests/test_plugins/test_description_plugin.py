"""A plugin modality (the product description, long free text) trained with masked token modelling, and a
plugin objective: each is one registered class plus config lines, with no edit of m5mm."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from m5mm.datasets import ManifestDataset
from m5mm.engine import run_training
from m5mm.registry import MODALITIES, MODELS
from m5mm.utils.plugins import import_custom_modules

PLUGIN = 'tests.test_plugins.m5mm_description'
REPO = Path(__file__).resolve().parents[2]
WORDS = ('cotton soft red blue shirt dress steel lamp bright warm wooden table chair light heavy small large '
         'kitchen knife sharp handle leather bag strap zipper pocket glass bottle water green phone case').split()
BERT = dict(type='TextBertEncoder', hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, dropout=0.0)


def write_catalogue(root: Path, num_products: int = 32) -> Path:
    """A manifest of titles, tables and long descriptions (no media)."""
    rng = random.Random(0)
    lines = []
    for i in range(num_products):
        words = rng.sample(WORDS, 3)
        description = ' '.join(rng.choice(WORDS) for _ in range(rng.randint(40, 90)))
        record = dict(id=f'p{i}', text=' '.join(words), table=[['material', words[0]], ['color', words[1]]],
                      description=description if i % 5 else None, category=f'c{i % 4}', instance=f'i{i}',
                      split='train')
        lines.append(json.dumps(record))
    root.mkdir(parents=True, exist_ok=True)
    (root / 'manifest.jsonl').write_text('\n'.join(lines) + '\n')
    return root


@pytest.fixture(scope='module')
def plugin():
    import_custom_modules([PLUGIN])


@pytest.fixture()
def dataset(plugin, tmp_path):
    return ManifestDataset(data_root=str(write_catalogue(tmp_path / 'data')), split='train',
                           tokenizer=dict(vocab_size=200),
                           modalities=dict(text=None, table=None, description=None))


def _scale(dataset, **kwargs):
    torch.manual_seed(0)
    encoders = dict(text=dict(BERT, max_position=64), table=dict(BERT, max_position=64),
                    description=dict(BERT, max_position=128))
    return MODELS.build(dict(type='ScalePretrainer', encoders=encoders, **kwargs,
                             fusion=dict(type='ScaleFusion', dim=32, depth=1, num_heads=2)),
                        default_args=dict(data_meta=dataset.meta))


def test_the_description_gets_masked_token_modelling_from_its_spec(dataset):
    spec = MODALITIES.get('description')
    assert spec.pretext is None and spec.is_token_modality()
    assert spec.pretext_objective() == dict(type='MaskedLanguageModelObjective', name='mlm_description')
    batch = dataset.collate([dataset[i] for i in range(8)])
    assert batch['description']['present'].tolist() == [False] + [True] * 4 + [False] + [True] * 2
    assert batch['description']['input_ids'].shape[1] > 40
    model = _scale(dataset)
    assert list(model.objectives) == ['con', 'mlm', 'mem', 'mlm_description']
    objective = model.objectives['mlm_description']
    assert type(objective).__name__ == 'MaskedLanguageModelObjective' and objective.modality == 'description'
    description = model.backbone.encoders['description']
    assert objective.head.decoder.weight is description.get_word_embeddings().weight      # its own tied head
    assert objective.head is not model.objectives['mlm'].head
    out = model(batch)
    assert {'loss_mlm_description', 'acc_mlm_description', 'con_text_description', 'weight_description',
            'mask_weight_description'} <= set(out)
    sum(v for k, v in out.items() if k.startswith('loss')).backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


def test_masked_description_modelling_learns(dataset):
    objective = dict(type='MaskedLanguageModelObjective', modality='description', mask_ratio=0.3)
    model = _scale(dataset, objectives=dict(mlm_description=objective))
    batch = dataset.collate([dataset[i] for i in range(16)])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        torch.manual_seed(0)                     # the same masks every step
        loss = model(batch)['loss_mlm_description']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_a_plugin_objective_is_one_class_and_config_lines(dataset):
    model = _scale(dataset, objectives=dict(con=dict(type='InterModalityContrastiveObjective'),
                                            presence=dict(type='ModalityPresenceObjective')))
    out = model(dataset.collate([dataset[i] for i in range(8)]))
    assert {'loss_con', 'loss_presence', 'acc_presence'} <= set(out)
    single = _scale(dataset, modalities=['description'],
                    objectives=dict(mlm_description=dict(type='MaskedLanguageModelObjective', modality='description'),
                                    presence=dict(type='ModalityPresenceObjective')))
    assert single.dropped_objectives == ['presence']          # it declares that it needs two modalities


def test_a_config_trains_the_plugin_modality(plugin, tmp_path):
    root = write_catalogue(tmp_path / 'data')
    config = tmp_path / 'scale_description_tiny.py'
    config.write_text(f'''
_base_ = [{str(REPO / 'configs' / 'scale_5mod_tiny.py')!r}]
custom_imports = dict(imports=[{PLUGIN!r}], allow_failed_imports=False)
_modalities = dict(_delete_=True, text=dict(pipeline=[dict(type='TokenizeText', max_length=36)]),
                   table=dict(pipeline=[dict(type='TokenizeTable', max_length=64)]), description=None)
_dataset = dict(modalities=_modalities, tokenizer=dict(vocab_size=200))
train_dataloader = dict(batch_size=8, dataset=_dataset)
val_dataloader = dict(dataset=_dataset)
test_dataloader = dict(dataset=_dataset)
model = dict(modalities=['text', 'table', 'description'],
             encoders=dict(description=dict(type='TextBertEncoder', hidden_size=32, num_layers=1, num_heads=2,
                                            intermediate_size=64, max_position=128, dropout=0.0)))
hooks = [dict(type='MetricsLoggerHook', interval=1)]
''')
    run_training(str(config), work_dir=str(tmp_path / 'run'), cfg_options={'data_root': str(root)}, max_steps=2)
    records = [json.loads(line) for line in (tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()]
    assert len(records) == 2
    for key in ('loss_mlm_description', 'loss_mlm', 'loss_mem', 'loss_con', 'weight_description'):
        assert key in records[0] and records[0][key] == records[0][key], key
