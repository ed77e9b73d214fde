"""The demo catalogue: determinism, split rules, rates, long tail, decodable files, information design."""
from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from m5mm.experiments.catalogues.demo import CATEGORIES, make_demo_dataset, plan_demo_dataset, summarize
from m5mm.experiments.catalogues.demo.design import MODALITY_NAMES, category_weights
from m5mm.experiments.catalogues.demo.media import render_image, render_video
from tests.script_module import load_script

SMALL = dict(num_products=60, seed=3, num_categories=6)
MANIFEST_KEYS = ['id', 'text', 'table', 'image', 'video', 'audio', 'category', 'instance', 'split']


def read_manifest(root: Path) -> list:
    return [json.loads(line) for line in (root / 'manifest.jsonl').read_text().splitlines()]


def digests(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    return root, make_demo_dataset(root, **SMALL)


@pytest.fixture(scope='module')
def big_plan():
    return plan_demo_dataset(num_products=3000, seed=1)


def check_split_rules(entries: list, num_categories: int) -> None:
    by_split = defaultdict(set)
    for e in entries:
        by_split[e['split']].add(e['instance'])
    assert set(by_split) == {'train', 'val', 'query', 'gallery'}
    assert by_split['query'] <= by_split['gallery']  # every query has a positive in the gallery
    evaluation = by_split['query'] | by_split['gallery']
    assert not evaluation & (by_split['train'] | by_split['val']) and not by_split['train'] & by_split['val']
    for split in by_split:
        assert len({e['category'] for e in entries if e['split'] == split}) == num_categories, split
    skus = defaultdict(list)
    for e in entries:
        skus[e['instance']].append(e)
    for records in skus.values():
        assert 2 <= len(records) <= 4 and len({r['category'] for r in records}) == 1
        if records[0]['split'] in ('query', 'gallery'):
            assert sum(r['split'] == 'query' for r in records) == 1


def test_same_seed_same_bytes(small, tmp_path):
    root, summary = small
    again = make_demo_dataset(tmp_path / 'again', **SMALL)
    assert again == summary
    assert digests(tmp_path / 'again') == digests(root)  # manifest, noise, every JPEG / mp4 / WAV
    other = plan_demo_dataset(**{**SMALL, 'seed': 4})
    assert [r.manifest_entry() for r in other] != read_manifest(root)


def test_manifest_records(small):
    root, summary = small
    entries = read_manifest(root)
    assert len(entries) == 60 and len({e['id'] for e in entries}) == 60
    names = {c.name for c in CATEGORIES[:6]}
    for e in entries:
        assert list(e) == MANIFEST_KEYS and e['category'] in names
        assert any(e[m] is not None for m in MODALITY_NAMES)
        for m in ('image', 'video', 'audio'):
            assert e[m] is None or (not Path(e[m]).is_absolute() and (root / e[m]).is_file())
        assert e['text'] is None or (isinstance(e['text'], str) and 2 <= len(e['text'].split()) <= 10)
        if e['table'] is not None:
            assert 3 <= len(e['table']) <= 8 and all(len(p) == 2 and all(isinstance(x, str) for x in p)
                                                     for p in e['table'])
    assert summary['num_records'] == 60 and sum(summary['splits'].values()) == 60
    assert summary['categories'] == dict(Counter(e['category'] for e in entries))
    for m in MODALITY_NAMES:
        assert summary['coverage'][m] == pytest.approx(np.mean([e[m] is not None for e in entries]))
    assert json.loads((root / 'summary.json').read_text()) == summary
    check_split_rules(entries, 6)


def test_split_rules_and_shares(big_plan):
    entries = [r.manifest_entry() for r in big_plan]
    check_split_rules(entries, len(CATEGORIES))
    shares = Counter(e['split'] for e in entries)
    assert shares['train'] / 3000 == pytest.approx(0.6, abs=0.04)
    assert shares['val'] / 3000 == pytest.approx(0.1, abs=0.03)
    assert (shares['query'] + shares['gallery']) / 3000 == pytest.approx(0.3, abs=0.04)


@pytest.mark.parametrize('num_products, num_categories', [(72, 12), (100, 12), (400, 12), (36, 6), (41, 2)])
def test_every_category_in_every_split(num_products, num_categories):
    plan = plan_demo_dataset(num_products=num_products, num_categories=num_categories, seed=num_products)
    assert len(plan) == num_products
    check_split_rules([r.manifest_entry() for r in plan], num_categories)


def test_missing_modalities_and_noise_rates(big_plan):
    summary = summarize(big_plan)
    assert summary['incomplete_records'] == 600  # 20%
    assert 0.03 <= summary['single_modality_records'] / 3000 <= 0.07  # ~5% as in M5Product
    assert summary['noisy_titles'] == 150  # 5%
    by_id = {r.id: r for r in big_plan}
    for record in big_plan:
        if record.title_from is not None:
            donor = by_id[record.title_from]
            assert 'text' in record.modalities and donor.instance.category != record.instance.category
            if donor.title_from is None:
                assert record.title == donor.title
    for modality, count in summary['corrupted_factors'].items():
        assert count / (summary['coverage'][modality] * 3000) == pytest.approx(0.1, abs=0.025)
    for record in big_plan:  # a corrupted media modality shows a wrong factor, the others the right one
        true = CATEGORIES[record.instance.category]
        for modality, factor in (('image', 'shape'), ('video', 'motion'), ('audio', 'pitch')):
            assert (record.factors[modality] != getattr(true, factor)) == (modality in record.corrupted)


def test_long_tail(big_plan):
    counts = list(summarize(big_plan)['categories'].values())
    assert counts == sorted(counts, reverse=True)
    assert 5 <= counts[0] / counts[-1] <= 10
    weights = category_weights(12)
    assert weights[0] / weights[-1] == pytest.approx(8.0)


def test_noise_file(small):
    root, summary = small
    noise = json.loads((root / 'noise.json').read_text())
    entries = {e['id']: e for e in read_manifest(root)}
    assert len(noise['noisy_titles']) == summary['noisy_titles'] == 3
    for item in noise['noisy_titles']:
        assert entries[item['id']]['text'] is not None
        assert entries[item['title_from']]['category'] == item['title_category'] != item['category']
        assert item['category'] == entries[item['id']]['category']
    for modality, ids in noise['corrupted_factors'].items():
        assert all(entries[i][modality] is not None for i in ids)


def test_files_decode(small):
    import decord
    import librosa
    import soundfile
    from PIL import Image
    root, _ = small
    entries = read_manifest(root)
    for e in entries:
        if e['image']:
            with Image.open(root / e['image']) as image:
                assert image.format == 'JPEG' and image.mode == 'RGB' and image.size == (96, 96)
        if e['video']:
            reader = decord.VideoReader(str(root / e['video']))
            assert len(reader) == 12 and reader[0].shape == (64, 64, 3) and reader.get_avg_fps() == 4
        if e['audio']:
            info = soundfile.info(str(root / e['audio']))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, 'PCM_16')
    wave, rate = librosa.load(str(root / next(e['audio'] for e in entries if e['audio'])), sr=None)
    assert rate == 16000 and wave.shape == (32000,) and 0.05 < np.abs(wave).max() <= 1


def test_media_shows_the_factors():
    rng = np.random.default_rng(0)
    circle = render_image(rng, shape='circle', color=(200, 30, 40), scale=0.6)
    ring = render_image(rng, shape='ring', color=(200, 30, 40), scale=0.6)
    assert circle[48, 48, 0] > 150 and circle[48, 48, 2] < 100  # a red object in the middle
    assert ring[48, 48].min() > 150  # a ring's centre shows the light background
    frames = render_video(rng, motion='horizontal', speed=0.5, amplitude=0.25).astype(float)
    dark = frames.mean(-1) < 130
    rows = [np.nonzero(f.any(1))[0].mean() for f in dark]
    cols = [np.nonzero(f.any(0))[0].mean() for f in dark]
    assert np.std(cols) > 5 * np.std(rows)  # moves left-right, not up-down
    with pytest.raises(ValueError, match='unknown shape'):
        render_image(rng, shape='hexagon', color=(0, 0, 0), scale=0.5)


def test_design_needs_two_media_modalities():
    factors = [(c.shape, c.motion, c.pitch) for c in CATEGORIES]
    for k in range(3):  # each media factor alone leaves categories confusable
        assert len({f[k] for f in factors}) < len(CATEGORIES)
    for a, b in itertools.combinations(range(3), 2):  # any two of them identify the category
        assert len({(f[a], f[b]) for f in factors}) == len(CATEGORIES)
    assert len({(c.material, c.style) for c in CATEGORIES}) < len(CATEGORIES)


def test_bad_arguments():
    with pytest.raises(ValueError, match='too small'):
        plan_demo_dataset(num_products=50, num_categories=12)
    with pytest.raises(ValueError, match='num_categories'):
        plan_demo_dataset(num_categories=13)


def test_probe_rejects_a_catalogue_without_complete_records(tmp_path):
    from m5mm.experiments.catalogues.demo.probe import probe_demo_dataset
    lines = [dict(id=f'x{k}', text='red tee', split=split, category='t-shirt', instance=f'sku-{k}')
             for k, split in enumerate(['train', 'query', 'gallery'])]
    (tmp_path / 'manifest.jsonl').write_text(''.join(json.dumps(line) + '\n' for line in lines))
    with pytest.raises(ValueError, match='no train records with all five modalities'):
        probe_demo_dataset(tmp_path)


def test_combined_modalities_beat_each_one(tmp_path):
    pytest.importorskip('sklearn')
    from m5mm.experiments.catalogues.demo.probe import probe_demo_dataset
    make_demo_dataset(tmp_path, num_products=300, seed=0)
    result = probe_demo_dataset(tmp_path, leave_one_out=False)
    held_out = [e for e in read_manifest(tmp_path)
                if e['split'] != 'train' and all(e[m] for m in MODALITY_NAMES)]
    majority = Counter(e['category'] for e in held_out).most_common(1)[0][1] / len(held_out)
    for scores in (result['category_accuracy']['complete'], result['category_accuracy']['available'],
                   result['instance_p_at_1']):
        best_single = max(scores[m] for m in MODALITY_NAMES)
        assert scores['combined'] > best_single + 0.05, scores
    for m in MODALITY_NAMES:  # every modality carries some category information
        assert result['category_accuracy']['complete'][m] > majority + 0.05


def test_cli(tmp_path, capsys):
    tool = load_script('tools/make_demo_data.py')
    args = ['--out', str(tmp_path / 'cli'), '--seed', '1']
    tool.main(args + ['--num', '36', '--categories', '6'])
    assert len(read_manifest(tmp_path / 'cli')) == 36 and 'wrote 36 records' in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        tool.main(args + ['--num', '10'])
    assert exit_info.value.code == 2 and 'too small' in capsys.readouterr().err
