"""The emoji catalogue: determinism, counts and splits, categories = Unicode subgroups, noise rates,
files decoded by m5mm's own loaders, and a clear error when a source is not installed."""
from __future__ import annotations

import importlib.util
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from m5mm.experiments.catalogues.emoji import MissingSourceError, make_emoji_dataset, plan_emoji_dataset, summarize
from m5mm.experiments.catalogues.emoji.design import SELLER_SUFFIXES
from m5mm.experiments.catalogues.emoji.plan import listing_counts
from m5mm.experiments.catalogues.emoji.sources import EMOJI_TEST_PATH, FONT_PATH, read_emoji_test
from tests.script_module import load_script

from .test_demo_data import MANIFEST_KEYS, check_split_rules, digests, read_manifest

REPO = Path(__file__).resolve().parents[2]
MEDIA = ('image', 'video', 'audio')
SMALL = dict(num_products=40, seed=3)
MISSING = [name for name, ok in (('fonts-noto-color-emoji', Path(FONT_PATH).is_file()),
                                 ('unicode-data', Path(EMOJI_TEST_PATH).is_file()),
                                 ('espeak-ng', shutil.which('espeak-ng') is not None)) if not ok]
if importlib.util.find_spec('emoji') is None:
    MISSING.append('the emoji package (pip install "m5mm[emoji]")')
needs_sources = pytest.mark.skipif(bool(MISSING), reason=f'not installed: {", ".join(MISSING)} '
                                   '(Debian: apt-get install fonts-noto-color-emoji unicode-data espeak-ng; '
                                   'CI installs them in .ci/run)')


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp('emoji')
    return root, make_emoji_dataset(root, **SMALL)


@pytest.fixture(scope='module')
def big_plan():
    return plan_emoji_dataset(num_products=2000, seed=1)


@needs_sources
def test_same_seed_same_bytes(small, tmp_path):
    root, summary = small
    assert make_emoji_dataset(tmp_path, **SMALL) == summary
    assert digests(tmp_path) == digests(root)   # manifest, queries, noise, every JPEG / mp4 / WAV
    other = plan_emoji_dataset(**{**SMALL, 'seed': 4}).records
    assert [r.manifest_entry() for r in other] != read_manifest(root)


@needs_sources
def test_manifest_counts_splits_and_queries(small):
    from m5mm.datasets.query_file import load_query_file
    root, summary = small
    entries = read_manifest(root)
    assert len(entries) == 40 and len({e['id'] for e in entries}) == 40
    # 40 records fit 6 categories: the six largest subgroups with >= 8 emoji, 6 records or more each
    assert list(summary['categories']) == ['country-flag', 'person-role', 'animal-mammal', 'transport-ground',
                                           'sky & weather', 'clothing']
    assert summary['categories'] == dict(Counter(e['category'] for e in entries))
    assert min(summary['categories'].values()) >= 6
    for e in entries:
        assert list(e) == MANIFEST_KEYS and any(e[m] is not None for m in ('text', 'table', *MEDIA))
        for m in MEDIA:
            assert e[m] is None or (root / e[m]).is_file()
        assert e['table'] is None or 3 <= len(e['table']) <= 9
    check_split_rules(entries, 6)   # 2-4 listings per instance, instances split whole, a query per eval instance
    listings = Counter(e['instance'] for e in entries)
    assert summary['num_instances'] == len(listings) and summary['listings_per_instance']['max'] <= 4
    assert summary['splits'] == {s: sum(e['split'] == s for e in entries)
                                 for s in ('train', 'val', 'query', 'gallery')}
    gallery = {e['id']: e for e in entries if e['split'] == 'gallery'}
    queries = load_query_file(str(root / 'queries.jsonl'))
    num_gallery_instances = len({e['instance'] for e in gallery.values()})
    assert len(queries) == len({e['category'] for e in gallery.values()}) + num_gallery_instances
    for query in queries:
        assert set(query['relevance']) <= set(gallery) and 2.0 in query['relevance'].values()
    assert json.loads((root / 'summary.json').read_text(encoding='utf-8')) == summary


@needs_sources
def test_categories_are_unicode_subgroups(small):
    root, _ = small
    by_sku = {e.sku: e for e in read_emoji_test(EMOJI_TEST_PATH)[1]}
    for entry in read_manifest(root):
        emoji = by_sku[entry['instance']]
        assert entry['category'] == emoji.subgroup
        assert not {0x1F3FB, 0x1F3FC, 0x1F3FD, 0x1F3FE, 0x1F3FF} & set(emoji.codepoints)   # no skin tones
        table = dict(entry['table'] or [])
        assert table.get('collection', emoji.group) == emoji.group
        assert table.get('type', entry['category'].replace('-', ' ')) == entry['category'].replace('-', ' ')


@needs_sources
def test_noise_rates_as_configured(big_plan):
    summary = summarize(big_plan)
    assert summary['num_records'] == 2000 and len(summary['categories']) == 69   # every subgroup with >= 8 emoji
    counts = list(summary['categories'].values())
    assert counts == sorted(counts, reverse=True) and counts[0] / counts[-1] > 20   # long tail: flags first
    assert summary['incomplete_records'] == 400                                      # 20% (bazaar's rate)
    missing = Counter(m for r in big_plan.records for m in ('image', 'text', 'table', 'video', 'audio')
                      if m not in r.modalities)
    assert missing['video'] > 1.5 * missing['image'] and missing['audio'] > 1.5 * missing['table']   # 3x the odds
    for modality in MEDIA:
        present = summary['coverage'][modality] * 2000
        assert summary['wrong_media'][modality] / present == pytest.approx(0.15, abs=0.03)
    assert summary['noisy_titles'] == 160                                            # 8%
    by_id = {r.id: r for r in big_plan.records}
    for record in big_plan.records:
        if record.title_from is not None:
            assert by_id[record.title_from].category != record.category
        for modality in record.corrupted:
            assert record.shown[modality].category != record.instance.category
    quiet = summarize(plan_emoji_dataset(num_products=600, seed=1, incomplete_rate=0.5, wrong_media_rate=0.0,
                                         noisy_title_rate=0.0))
    assert quiet['incomplete_records'] == 300 and quiet['noisy_titles'] == 0
    assert quiet['wrong_media'] == dict.fromkeys(MEDIA, 0)


@needs_sources
def test_titles_are_noisy_and_multilingual(big_plan):
    records = [r for r in big_plan.records if r.title_from is None]
    english = np.mean([r.instance.entry.name.lower() in r.title.lower() for r in records])
    other = np.mean([any(n.lower() in r.title.lower() for n in r.instance.names.values())
                     and r.instance.entry.name.lower() not in r.title.lower() for r in records])
    assert 0.45 < english < 0.75 and 0.1 < other < 0.3, (english, other)
    assert len({r.title for r in records}) > 0.9 * len(records)
    boilerplate = np.mean([any(s in r.title.lower() for s in SELLER_SUFFIXES) for r in records])
    assert 0.3 < boilerplate < 0.5, boilerplate   # 40% end with a seller's phrase (some lost to typos)


@needs_sources
def test_files_decode_with_m5mm_loaders(small):
    from m5mm.datasets.transforms import DecodeVideoFrames, LoadAudioMel, LoadImage
    root, _ = small
    load_image, decode_video = LoadImage(), DecodeVideoFrames(num_frames=4, size=64)
    load_audio = LoadAudioMel(sample_rate=16000, max_duration=None)
    seen = Counter()
    for entry in read_manifest(root):
        if entry['image']:
            pixels = load_image({'path': str(root / entry['image'])})['pixels']
            assert pixels.shape == (3, 128, 128) and pixels.float().std() > 20   # a picture, not a flat colour
            seen['image'] += 1
        if entry['video']:
            frames = decode_video({'path': str(root / entry['video'])})['frames']
            assert frames.shape == (4, 3, 64, 64)
            seen['video'] += int((frames[0].float() - frames[-1].float()).abs().mean() > 1)   # the camera moves
        if entry['audio']:
            mel = load_audio({'path': str(root / entry['audio'])})['mel']
            assert mel.shape[1] == 80 and 40 < mel.shape[0] <= 1 + 6.3 * 16000 // 256 and mel.isfinite().all()
            seen['audio'] += 1
    assert seen['image'] >= 30 and seen['video'] >= 30 and seen['audio'] >= 30


@needs_sources
def test_generated_through_a_dataset_config(tmp_path):
    from mmengine.config import Config

    from m5mm.registry import DATASETS
    cfg = Config.fromfile(str(REPO / 'configs/_base_/datasets/emoji_5mod.py'))
    dataset_cfg = cfg.train_dataloader.dataset.to_dict()
    assert dataset_cfg['generate_if_missing']['type'] == 'emoji'
    dataset_cfg.update(data_root=str(tmp_path / 'emoji'), generate_if_missing=dict(type='emoji', num_products=12))
    dataset = DATASETS.build(dataset_cfg)
    batch = dataset.collate([dataset[i] for i in range(len(dataset))])
    assert batch['image']['pixels'].shape[1:] == (3, 64, 64) and batch['audio']['mel'].shape[-1] == 80
    assert dataset.meta['num_categories'] == 2


@needs_sources
def test_dominant_colours():
    from m5mm.experiments.catalogues.emoji.media import glyph_color
    for chars, colour in (('\u2764\ufe0f', 'red'), ('\U0001f499', 'blue'), ('\U0001f49a', 'green'),
                          ('\U0001f49c', 'purple'), ('\U0001f90e', 'brown'), ('\U0001f5a4', 'black'),
                          ('\U0001f90d', 'white'), ('\U0001f34c', 'yellow'), ('\U0001f98a', 'orange')):
        assert glyph_color(FONT_PATH, chars) == colour, chars


def test_missing_font_is_a_clear_error(tmp_path):
    with pytest.raises(MissingSourceError, match=r'apt-get install fonts-noto-color-emoji\) or pass font_path='):
        make_emoji_dataset(tmp_path / 'out', num_products=12, font_path=str(tmp_path / 'NoSuchFont.ttf'))
    assert not (tmp_path / 'out').exists()   # refused before anything is written
    not_a_font = tmp_path / 'fake.ttf'
    not_a_font.write_bytes(b'not a font')
    with pytest.raises(ValueError, match='is not a colour bitmap emoji font'):
        make_emoji_dataset(tmp_path / 'out', num_products=12, font_path=str(not_a_font))


@needs_sources
def test_other_missing_sources_and_bad_arguments(tmp_path):
    with pytest.raises(MissingSourceError, match='apt-get install espeak-ng'):
        make_emoji_dataset(tmp_path / 'out', num_products=12, espeak_command='no-such-espeak-ng')
    with pytest.raises(MissingSourceError, match='apt-get install unicode-data'):
        make_emoji_dataset(tmp_path / 'out', num_products=12, emoji_test_path=str(tmp_path / 'emoji-test.txt'))
    assert not (tmp_path / 'out').exists()
    with pytest.raises(ValueError, match='num_products=10 is too small'):
        plan_emoji_dataset(num_products=10)
    with pytest.raises(ValueError, match='num_categories must be in'):
        plan_emoji_dataset(num_products=1000, num_categories=70)
    with pytest.raises(ValueError, match='wrong_media_rate must be in'):
        plan_emoji_dataset(num_products=12, wrong_media_rate=1.5)


def test_listings_per_instance_grow_when_a_subgroup_runs_out_of_emoji():
    rng = np.random.default_rng(0)
    assert listing_counts(rng, 6, 8) == [2, 2, 2]
    usual = listing_counts(rng, 60, 100)
    assert sum(usual) == 60 and min(usual) >= 2 and max(usual) <= 4
    crowded = listing_counts(rng, 100, 8)   # 100 records of a subgroup of 8 emoji
    assert len(crowded) == 8 and sum(crowded) == 100 and min(crowded) >= 2 and max(crowded) <= 13


@needs_sources
def test_plan_of_two_categories():
    plan = plan_emoji_dataset(num_products=120, seed=0, num_categories=2)
    assert plan.categories == ['country-flag', 'person-role'] and len(plan.records) == 120
    assert max(Counter(r.instance.sku for r in plan.records).values()) <= 4
    check_split_rules([r.manifest_entry() for r in plan.records], 2)


def _tool():
    return load_script('tools/make_catalogue.py')


def test_cli_reports_errors(tmp_path, capsys):
    tool = _tool()
    with pytest.raises(SystemExit) as exit_info:
        tool.main(['emoji', '--out', str(tmp_path / 'cli'), '--options', f'font_path={tmp_path}/none.ttf'])
    assert exit_info.value.code == 2 and 'apt-get install fonts-noto-color-emoji' in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        tool.main(['emojii', '--out', str(tmp_path / 'cli')])
    assert exit_info.value.code == 2 and 'Did you mean: emoji' in capsys.readouterr().err


@needs_sources
def test_cli_writes_a_catalogue(tmp_path, capsys):
    _tool().main(['emoji', '--out', str(tmp_path / 'cli'), '--num', '14', '--seed', '2',
                  '--options', 'wrong_media_rate=0.0'])
    assert len(read_manifest(tmp_path / 'cli')) == 14 and 'wrote 14 records' in capsys.readouterr().out
    assert json.loads((tmp_path / 'cli' / 'noise.json').read_text())['wrong_media'] == dict.fromkeys(MEDIA, {})


@needs_sources
def test_speech_prefetcher_reads_each_title_once_and_in_order():
    from m5mm.experiments.catalogues.emoji.speech import AUDIO_RATE, SpeechPrefetcher
    requests = [('red heart enamel pin', 'en+m1'), ('Pixelpop fox sticker', 'en+f2'), ('red heart enamel pin', 'en+m1')]
    with SpeechPrefetcher(espeak=shutil.which('espeak-ng'), requests=requests, ahead=2) as speech:
        waves = [speech.next(*request) for request in requests]
        assert waves[0] is waves[2] and len(speech.futures) == 0   # synthesised once, then released
        assert 0.5 * AUDIO_RATE < len(waves[1]) < 4 * AUDIO_RATE and np.abs(waves[1]).max() > 0.05
        with pytest.raises(ValueError, match='out of the announced order'):
            speech.next('anything', 'en')
