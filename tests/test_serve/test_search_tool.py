"""tools/search.py: the ranked products of a text / image query against a tools/build_index.py folder."""
import json

import numpy as np
import pytest

from tests.script_module import load_script


def _tool():
    return load_script('tools/search.py')


def _brute_force(index, vector, k):
    vectors = np.stack([index.index.vector(pid) for pid in index.index.ids]).astype(np.float64)
    scores = vectors @ np.asarray(vector, np.float64)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    return [index.index.ids[i] for i in order], [scores[i] for i in order]


def test_text_and_image_queries_print_ranked_products_with_their_modalities(
        tiny_encoder, tiny_index, demo_root, capsys, monkeypatch):
    tool = _tool()
    manifest = {r['id']: r for r in map(json.loads, (demo_root / 'manifest.jsonl').read_text().splitlines())}
    rows = tool.main([str(tiny_encoder.source), '--index', tiny_index.directory, '--text', 'red sneakers', '--k', '4'])
    ids, scores = _brute_force(tiny_index, tiny_encoder.encode_text(['red sneakers'])[0], 4)
    assert [r['id'] for r in rows] == ids and [r['rank'] for r in rows] == [1, 2, 3, 4]
    assert [r['score'] for r in rows] == pytest.approx(scores, rel=1e-5)
    for row in rows:
        record = manifest[row['id']]
        assert row['title'] == record['text'] and row['category'] == record['category']
        assert set(row['modalities']) == {m for m in tiny_encoder.modalities if record.get(m) is not None}
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ['rank', 'id', 'score', 'category', 'modalities', 'title'] and len(out) == 5
    first = out[1].split()
    assert first[:5] == ['1', ids[0], f'{rows[0]["score"]:.4f}', rows[0]['category'], ','.join(rows[0]['modalities'])]
    assert out[1].endswith(rows[0]['title'])

    monkeypatch.chdir(demo_root)                       # --image is relative to the working directory
    rows = tool.main([str(tiny_encoder.source), '--index', tiny_index.directory, '--image', 'images/D00000.jpg'])
    image = (demo_root / 'images' / 'D00000.jpg').read_bytes()
    assert [r['id'] for r in rows] == _brute_force(tiny_index, tiny_encoder.encode_image([image])[0], 10)[0]


def test_bad_queries_are_one_line_errors(tiny_encoder, tiny_index, tmp_path, monkeypatch, capsys):
    tool = _tool()
    with pytest.raises(SystemExit):
        tool.main([str(tiny_encoder.source), '--index', tiny_index.directory])
    assert 'give --text and/or --image' in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=f'error: missing file: image .* no file at {tmp_path}/nope.jpg'):
        tool.main([str(tiny_encoder.source), '--index', tiny_index.directory, '--image', 'nope.jpg'])
    with pytest.raises(SystemExit, match='is not a catalogue index'):
        tool.main([str(tiny_encoder.source), '--index', str(tmp_path), '--text', 'x'])
