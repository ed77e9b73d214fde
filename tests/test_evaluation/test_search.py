import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from m5mm.evaluation import SearchIndex, save_features
from m5mm.evaluation.search import query_index
from tests.script_module import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _gallery(n=500, dim=16, seed=0, clusters=20):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim))
    x = centers[rng.integers(0, clusters, size=n)] + 0.3 * rng.normal(size=(n, dim))
    return x.astype(np.float32), [f'p{i}' for i in range(n)]


def _brute_force(x, q, k):
    scores = q.astype(np.float64) @ x.astype(np.float64).T
    order = np.argsort(-scores, axis=1, kind='stable')[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


@pytest.mark.parametrize('backend', ['torch', 'faiss'])
def test_exact_equals_brute_force(backend):
    if backend == 'faiss':
        pytest.importorskip('faiss')
    x, ids = _gallery()
    q = np.random.default_rng(1).normal(size=(30, 16)).astype(np.float32)
    index = SearchIndex.build(x, ids, backend=backend, gallery_chunk=64) if backend == 'torch' else \
        SearchIndex.build(x, ids, backend=backend)
    result = index.search(q, 10)
    order, scores = _brute_force(x, q, 10)
    np.testing.assert_array_equal(result.indices, order)
    np.testing.assert_allclose(result.scores, scores, rtol=1e-5, atol=1e-4)
    assert result.ids[3] == [ids[i] for i in order[3]]


def test_faiss_and_torch_agree_and_cosine():
    pytest.importorskip('faiss')
    x, ids = _gallery(seed=2)
    q = x[:25] * 3.0
    for metric in ('ip', 'cosine'):
        a = SearchIndex.build(x, ids, backend='torch', metric=metric).search(q, 7)
        b = SearchIndex.build(x, ids, backend='faiss', metric=metric).search(q, 7)
        assert a.ids == b.ids
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-5)
    cos = SearchIndex.build(x, ids, metric='cosine').search(x[:5], 1)
    assert [r[0] for r in cos.ids] == ids[:5]
    np.testing.assert_allclose(cos.scores[:, 0], 1.0, atol=1e-5)


@pytest.mark.parametrize('index_type,options', [('ivf', dict(nprobe=8)), ('hnsw', dict(ef_search=64))])
def test_approximate_recall(index_type, options):
    pytest.importorskip('faiss')
    x, ids = _gallery(n=2000, seed=3)
    q = x[np.random.default_rng(4).choice(2000, 50, replace=False)] + 0.1
    index = SearchIndex.build(x, ids, index_type=index_type, **options)
    approx = index.search(q, 10).indices
    exact, _ = _brute_force(x, q, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall >= 0.9
    np.testing.assert_allclose(index.vector('p7'), x[7], atol=1e-6)


@pytest.mark.parametrize('backend,index_type', [('torch', 'flat'), ('faiss', 'flat'), ('faiss', 'ivf'),
                                                ('faiss', 'hnsw')])
def test_save_load_and_search_by_id(tmp_path, backend, index_type):
    if backend == 'faiss':
        pytest.importorskip('faiss')
    x, ids = _gallery(n=400, seed=5)
    x[10] = x[11]                                    # an exact duplicate of p10: first under cosine
    index = SearchIndex.build(x, ids, backend=backend, index_type=index_type, metric='cosine')
    before = index.search_by_id('p10', 5)
    index.save(str(tmp_path / 'idx'))
    loaded = SearchIndex.load(str(tmp_path / 'idx'))
    after = loaded.search_by_id('p10', 5)
    assert before.ids == after.ids and len(after.ids[0]) == 5
    assert 'p10' not in after.ids[0] and after.ids[0][0] == 'p11'
    assert loaded.search_by_id('p10', 5, include_self=True).ids[0][:2] in (['p10', 'p11'], ['p11', 'p10'])
    assert len(loaded) == 400 and 'p399' in loaded and loaded.backend == backend


def test_small_index_and_errors(tmp_path):
    x = np.eye(3, dtype=np.float32)
    index = SearchIndex.build(x, ['a', 'b', 'c'], backend='torch')
    result = index.search(x[0], 5)
    assert result.ids == [['a', 'b', 'c']] and result.indices[0, 3:].tolist() == [-1, -1]
    assert np.isneginf(result.scores[0, 3:]).all()
    with pytest.raises(ValueError, match='D = 3'):
        index.search(np.zeros(4), 1)
    with pytest.raises(KeyError, match='not in the index'):
        index.search_by_id('zz')
    with pytest.raises(ValueError, match='needs FAISS'):
        SearchIndex(dim=3, index_type='hnsw', backend='torch')
    with pytest.raises(FileNotFoundError, match='not an m5mm search index'):
        SearchIndex.load(str(tmp_path))


def _load_tool():
    return load_script('tools/search_index.py')


def test_cli_build_and_query(tmp_path, capsys):
    x, ids = _gallery(n=200, seed=6)
    gallery = save_features(str(tmp_path / 'gallery.npz'), {'ids': ids, 'features': x})
    queries = save_features(str(tmp_path / 'query.npz'), {'ids': ['new1'], 'features': x[42:43] + 1e-3})
    np.save(tmp_path / 'v.npy', x[5])
    index_dir = str(tmp_path / 'idx')
    # the real command line once, in a fresh process
    script = os.path.join(ROOT, 'tools', 'search_index.py')
    out = subprocess.run([sys.executable, script, 'build', '--features', gallery, '--out', index_dir,
                          '--backend', 'torch', '--metric', 'cosine'],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'indexed 200 products' in out.stdout
    tool = _load_tool()

    def query(*args):
        tool.main(['query', index_dir, *args])
        return [line.split() for line in capsys.readouterr().out.splitlines()[1:]]

    assert query('--vector', str(tmp_path / 'v.npy'), '--topk', '3')[0][:2] == ['1', 'p5']
    assert query('--id', 'new1', '--features', queries, '--topk', '2')[0][1] == 'p42'
    expected = query_index(index_dir, pid='p5', topk=4)
    assert [row[1] for row in query('--id', 'p5', '--topk', '4')] == expected.ids[0]
    with pytest.raises(SystemExit, match="id 'nope' is not in the index"):
        tool.main(['query', index_dir, '--id', 'nope'])


def test_throughput_benchmark_smoke(tmp_path):
    pytest.importorskip('faiss')
    bench = load_script('benchmarks/search_throughput.py')
    out = tmp_path / 'bench.json'
    bench.main(['--gallery-size', '3000', '--dim', '32', '--queries', '20', '--repeats', '1',
                '--threads', str(torch.get_num_threads()), '--approx', 'ivf,hnsw', '--out', str(out)])
    report = json.loads(out.read_text())
    methods = [row['method'] for row in report['results']]
    assert methods[0].startswith('m5mm exact') and 'faiss IndexFlatIP' in methods and len(methods) == 5
    assert all(row['recall'] == 1.0 for row in report['results'] if row['exact'])
    assert all(0.0 <= row['recall'] <= 1.0 and row['qps'] > 0 for row in report['results'])


def test_without_faiss_flat_falls_back_to_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, 'faiss', None)             # makes `import faiss` fail
    x, ids = _gallery(n=100, seed=7)
    index = SearchIndex.build(x, ids)                             # backend='auto'
    assert index.backend == 'torch'
    order, _ = _brute_force(x, x[:3], 4)
    np.testing.assert_array_equal(index.search(x[:3], 4).indices, order)
    with pytest.raises(ImportError, match=r'm5mm\[faiss\]'):
        SearchIndex.build(x, ids, index_type='hnsw')
