"""The inspection library and the two dataset tools (inspect_dataset, build_tokenizer)."""
import os
import subprocess
import sys

import pytest

from m5mm.datasets.inspection import (dataset_for_inspection, format_report, inspect_dataset,
                                      long_tail_summary, plot_report)
from m5mm.datasets.data_argument import parse_split
from m5mm.datasets.tokenizer import load_tokenizer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_file_check_report(data_root):
    ds = dataset_for_inspection(str(data_root))
    assert ds.tokenizer is None and len(ds) == 9  # no tokenizer without --decode; every split
    report = inspect_dataset(ds)
    assert report.in_record == {'image': 8, 'text': 8, 'table': 4, 'video': 4, 'audio': 4}
    assert report.usable == {'image': 7, 'text': 8, 'table': 4, 'video': 3, 'audio': 3}
    assert report.problem_counts() == {'image': {'missing file': 1}, 'video': {'path escapes data root': 1},
                                       'audio': {'path escapes data root': 1}}
    assert report.category_counts == {'clothing': 4, 'kitchen': 3, 'electronics': 1, 'accessories': 1}
    assert report.splits == {'train': 5, 'val': 1, 'query': 1, 'gallery': 2}


def test_decode_report_finds_corrupt_files(data_root, tokenizer_dir):
    ds = dataset_for_inspection(str(data_root), split='train', decode=True)
    report = inspect_dataset(ds, decode=True)
    assert report.problem_counts() == {'image': {'corrupt image': 1, 'missing file': 1},
                                       'video': {'corrupt video': 1},
                                       'audio': {'corrupt audio': 1, 'path escapes data root': 1}}
    assert report.usable['image'] == 3 and report.usable['audio'] == 2
    text = format_report(report)
    assert 'records: 5 (train 5)' in text and '(in record / decoded)' in text
    assert 'p3  video: corrupt video  videos/trunc.mp4' in text


def test_long_tail_summary_numbers():
    counts = {'a': 50, 'b': 20, 'c': 10, 'd': 5, 'e': 3, 'f': 2, 'g': 1, None: 4}
    lines = long_tail_summary(counts, head=2)
    assert lines[0] == 'categories: 7 (+4 unlabelled records)'
    assert lines[1] == '  head: a 50, b 20'
    assert 'top 20% of categories (1) hold 54.9% of records' in lines[2]  # 50 of 91
    assert '4 categories have <= 5 records' in lines[2] and '50/1 = 50.0' in lines[2]


def test_plot_is_written(data_root, tmp_path):
    report = inspect_dataset(dataset_for_inspection(str(data_root), modalities=['image', 'text']))
    path = plot_report(report, str(tmp_path / 'plots' / 'coverage.png'))
    with open(path, 'rb') as handle:
        assert handle.read(8) == b'\x89PNG\r\n\x1a\n'


def test_parse_split():
    assert parse_split(None) is None and parse_split('all') is None
    assert parse_split('val') == 'val' and parse_split('query, gallery') == ['query', 'gallery']


def run_tool(*args):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_inspect_tool_cli(data_root, tmp_path):
    plot = tmp_path / 'p.png'
    proc = run_tool('tools/inspect_dataset.py', str(data_root), '--split', 'query,gallery',
                    '--plot', str(plot))
    assert proc.returncode == 0, proc.stderr
    assert 'records: 3 (gallery 2, query 1)' in proc.stdout and plot.is_file()


def test_inspect_tool_on_a_config_and_bad_targets(data_root, tmp_path, capsys):
    from tools.inspect_dataset import main
    config = tmp_path / 'cfg.py'
    config.write_text(f"train_dataloader = dict(dataset=dict(type='ManifestDataset', "
                      f"data_root={str(data_root)!r}, split='train', "
                      f"modalities=dict(image=None, text=None)))\n")
    assert main([str(config), '--split', 'val', '--examples', '1']) == 0
    out = capsys.readouterr().out
    assert 'records: 1 (val 1)' in out and 'first 1 records' in out
    with pytest.raises(SystemExit, match='neither manifest.jsonl nor meta.json') as info:   # one line, exit 2
        main([str(tmp_path)])
    assert info.value.code == 2
    with pytest.raises(FileNotFoundError, match='neither manifest.jsonl nor meta.json'):
        main([str(tmp_path), '--debug'])
    (tmp_path / 'empty.py').write_text('x = 1\n')
    with pytest.raises(SystemExit, match='has no train_dataloader.dataset'):
        main([str(tmp_path / 'empty.py')])


def test_build_tokenizer_tool(data_root, tmp_path, capsys):
    from tools.build_tokenizer import main
    out = tmp_path / 'tok'
    assert main([str(data_root), '--out', str(out), '--vocab-size', '90']) == 0
    assert 'tokenizer saved to' in capsys.readouterr().out
    tok = load_tokenizer(str(out))
    assert tok.vocab_size <= 90 and tok.pad_id == 0 and tok.mask_id == 4
    vocab = tok.tokenizer.get_vocab()
    assert 'denim' in vocab and 'brand' in vocab and 'leather' not in vocab  # train titles and tables only


@pytest.fixture(autouse=True)
def _repo_on_path(monkeypatch):
    monkeypatch.syspath_prepend(REPO)
