"""Training with pretrained towers (configs/scale_5mod_pretrained_tiny.py): small checkpoints, exact resume,
LoRA merged into plain weights, a self-contained exported model folder, 2-process DDP with frozen and partly
trained towers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from m5mm.engine import run_training
from m5mm.checkpoint.manager import latest_checkpoint
from m5mm.checkpoint.weights import load_model_state_dict
from tests.test_engine.test_distributed import _launch, _metrics, _two_rank_args, sparse_video_root  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs' / 'scale_5mod_pretrained_tiny.py')
pytestmark = pytest.mark.slow


HOOKS = [dict(type='MetricsLoggerHook', interval=1), dict(type='ProgressBarHook', disable=True),
         dict(type='CheckpointHook', by_epoch=True, max_keep=3)]


def _options(demo_root, tiny_pretrained, **extra) -> dict:
    return {'data_root': str(demo_root), 'pretrained_root': str(tiny_pretrained), 'train_cfg.max_epochs': 1,
            'optim.optimizer.lr': 3e-3, 'hooks': HOOKS, **extra}


def _parameters(trainer) -> dict:
    model = trainer.accelerator.unwrap_model(trainer.model)
    return {k: v.detach().clone() for k, v in model.named_parameters()}


@pytest.fixture(scope='module')
def straight_run(demo_root, tiny_pretrained, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('pretrained_straight')
    trainer = run_training(CONFIG, work_dir=str(work_dir), cfg_options=_options(demo_root, tiny_pretrained))
    return trainer, work_dir


def test_checkpoints_hold_the_trained_weights_only(straight_run):
    trainer, work_dir = straight_run
    saved = load_model_state_dict(latest_checkpoint(str(work_dir)))
    for m in ('image', 'video', 'audio'):
        assert not [k for k in saved if f'encoders.{m}.backbone.' in k], m  # frozen: from the source
    text = [k for k in saved if 'encoders.text.backbone.' in k]
    assert text and all('lora_' in k or 'token_type_embeddings' in k for k in text)
    assert not [k for k in saved if k.endswith('decoder.weight')]  # tied to the frozen word embeddings
    model = trainer.accelerator.unwrap_model(trainer.model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    stored = sum(v.numel() for k, v in saved.items() if v.is_floating_point())
    assert stored < 0.5 * total and stored >= trainable


def test_a_resumed_pretrained_run_ends_with_exactly_the_same_weights(straight_run, demo_root, tiny_pretrained,
                                                                     tmp_path):
    straight, _ = straight_run
    options = _options(demo_root, tiny_pretrained)
    first = run_training(CONFIG, work_dir=str(tmp_path), cfg_options=options, max_steps=straight.total_steps - 1)
    assert 0 < first.state.batch_in_epoch  # stopped inside the epoch
    resumed = run_training(CONFIG, work_dir=str(tmp_path), cfg_options=options, resume='auto')
    assert resumed.state.step == straight.total_steps
    expected, got = _parameters(straight), _parameters(resumed)
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f'{len(different)} tensors differ after resuming, e.g. {different[:3]}'


def test_merged_lora_weights_give_the_same_features(straight_run):
    from m5mm.datasets.loaders import build_dataset
    from m5mm.evaluation.evaluate_checkpoint import build_model_for_eval
    from m5mm.utils.config import load_config
    from tools.convert_checkpoint import main as convert
    _, work_dir = straight_run
    checkpoint = latest_checkpoint(str(work_dir))
    out = work_dir / 'merged.safetensors'
    convert([str(work_dir), '--out', str(out), '--merge-lora'])
    merged_cfg = load_config(f'{out}.config.py')
    assert 'lora' not in merged_cfg.model.encoders.text
    cfg = load_config(str(checkpoint / 'config.py'))
    with_lora, merged = build_model_for_eval(cfg, checkpoint), build_model_for_eval(merged_cfg, out)
    dataset = build_dataset(cfg.val_dataloader.dataset)
    batch = dataset.collate([dataset[i] for i in range(4)])
    torch.testing.assert_close(merged.extract_features(batch)['joint'], with_lora.extract_features(batch)['joint'],
                               rtol=1e-4, atol=1e-5)


def test_an_exported_model_folder_holds_every_pretrained_model_it_reads(straight_run, demo_root,
                                                                        tiny_pretrained, tmp_path):
    from m5mm.api import ProductEncoder
    _, work_dir = straight_run
    from_run = ProductEncoder.from_pretrained(str(work_dir), device='cpu')
    folder = Path(from_run.save_pretrained(tmp_path / 'model'))
    text = (folder / 'm5mm_model.json').read_text()
    assert str(tiny_pretrained) not in text   # the towers and the pipelines' processors: copied in, hashed
    config = json.loads(text)
    pipelines = config['pipeline_pretrained']
    assert sorted(pipelines) == ['audio.pipeline.0.pretrained', 'image.pipeline.1.pretrained',
                                 'video.pipeline.0.pretrained']
    assert pipelines['image.pipeline.1.pretrained'] == config['pretrained']['encoders.image.pretrained']  # one copy
    assert all(f'{folder_name}/preprocessor_config.json' in config['files'] for folder_name in pipelines.values())
    records = [json.loads(line) for line in (demo_root / 'manifest.jsonl').read_text().splitlines()[:6]]
    loaded = ProductEncoder.from_pretrained(folder, device='cpu')
    np.testing.assert_array_equal(loaded.encode(records, data_root=str(demo_root), progress=False).features,
                                  from_run.encode(records, data_root=str(demo_root), progress=False).features)


def test_ddp_two_processes_with_frozen_and_partly_trained_towers(sparse_video_root, tiny_pretrained,  # noqa: F811
                                                                 tmp_path):
    config = tmp_path / 'ddp.py'
    config.write_text(f"_base_ = [{CONFIG!r}]\n"
                      "model = dict(encoders=dict(video=dict(freeze=False, trainable_layers=1)))\n"
                      "precision = 'no'\ntrain_cfg = dict(max_epochs=1)\n")
    _launch(_two_rank_args('--multi_gpu'), config, tmp_path / 'run', sparse_video_root, '--cfg-options',
            f'pretrained_root={tiny_pretrained}', 'train_dataloader.batch_size=4')
    metrics = _metrics(tmp_path / 'run')
    assert metrics and all(torch.isfinite(torch.tensor(r['loss'])) for r in metrics)
    assert latest_checkpoint(str(tmp_path / 'run')) is not None
