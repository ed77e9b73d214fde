"""Checking the information design on the written files: each modality alone vs all combined.

Features come from the decoded files (:mod:`.features`); media features are standardised and
expanded with cubic B-splines. A logistic regression trained on the ``train`` split predicts
the category of the held-out records (``val``, ``query``, ``gallery``: SKUs never seen in
training), from one modality or from all of them concatenated (an absent modality is a zero
block plus a presence flag). Fine-grained retrieval ranks the gallery for each query by the
same features (Euclidean distance of the standardised media features, cosine of the bags of
tokens; for the combination the sum of each modality's similarities standardised over the
gallery) and reports precision@1 on the SKU.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np

from .design import MODALITY_NAMES
from .features import audio_features, image_features, table_tokens, text_tokens, video_features

TEST_SPLITS = ('val', 'query', 'gallery')
DENSE_FEATURES = {'image': image_features, 'video': video_features, 'audio': audio_features}


def _read_manifest(root: Path) -> List[dict]:
    with open(root / 'manifest.jsonl', encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def _dense_block(root: Path, records: List[dict], modality: str, train: np.ndarray) -> np.ndarray:
    """(N, F) standardised features (train statistics), zero rows where absent."""
    rows = [DENSE_FEATURES[modality](root / r[modality]) if r[modality] else None for r in records]
    dim = len(next(v for v in rows if v is not None))
    feats = np.stack([v if v is not None else np.full(dim, np.nan) for v in rows])
    fit = feats[train & ~np.isnan(feats[:, 0])]
    feats = (feats - fit.mean(0)) / (fit.std(0) + 1e-6)
    return np.nan_to_num(feats, nan=0.0)


def _spline_block(block: np.ndarray, fit: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(N, F * 7) cubic B-spline expansion of each feature (knots from ``fit`` rows); absent rows zero.

    Lets the linear classifier use non-monotonic evidence (e.g. a middle pitch band).
    """
    from sklearn.preprocessing import SplineTransformer
    spline = SplineTransformer(n_knots=5, degree=3, extrapolation='constant').fit(block[fit])
    expanded = spline.transform(block)
    expanded[~present] = 0.0
    return expanded


def _bag_block(records: List[dict], modality: str, train: np.ndarray) -> np.ndarray:
    """(N, V) binary bag of tokens (vocabulary from train), zero rows where absent."""
    tokenize = text_tokens if modality == 'text' else table_tokens
    tokens = [tokenize(r[modality]) if r[modality] else [] for r in records]
    vocab = sorted({t for toks, is_train in zip(tokens, train) if is_train for t in toks})
    index = {t: k for k, t in enumerate(vocab)}
    block = np.zeros((len(records), len(vocab)))
    for row, toks in enumerate(tokens):
        block[row, [index[t] for t in toks if t in index]] = 1.0
    return block


def _concat(blocks: Dict[str, np.ndarray], present: Dict[str, np.ndarray], names) -> np.ndarray:
    """(N, F) the blocks of ``names`` side by side, then one presence flag per modality."""
    flags = np.stack([present[m] for m in names], axis=1).astype(float)
    return np.concatenate([blocks[m] for m in names] + [flags], axis=1)


def _accuracy(x: np.ndarray, y: np.ndarray, fit: np.ndarray, test: np.ndarray) -> Optional[float]:
    from sklearn.linear_model import LogisticRegression
    if not test.any():
        return None
    clf = LogisticRegression(C=1.0, max_iter=3000).fit(x[fit], y[fit])
    return float((clf.predict(x[test]) == y[test]).mean())


def _similarities(block: np.ndarray, *, dense: bool, queries: np.ndarray, gallery: np.ndarray,
                  present: np.ndarray) -> np.ndarray:
    """(Q, G) query-gallery similarity (negative distance or cosine); NaN where the gallery lacks it."""
    q, g = block[queries], block[gallery]
    if dense:
        sims = -np.sqrt(np.maximum((q ** 2).sum(1)[:, None] + (g ** 2).sum(1)[None] - 2 * q @ g.T, 0))
    else:
        norm = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)  # noqa: E731
        sims = norm(q) @ norm(g).T
    sims[:, ~present[gallery]] = np.nan
    return sims


def _zscore_rows(sims: np.ndarray) -> np.ndarray:
    """Standardise each row over its defined entries; undefined entries become 0."""
    mean, std = np.nanmean(sims, axis=1, keepdims=True), np.nanstd(sims, axis=1, keepdims=True)
    return np.nan_to_num((sims - mean) / (std + 1e-9), nan=0.0)


def _precision_at_1(sims: np.ndarray, query_ids: np.ndarray, gallery_ids: np.ndarray) -> float:
    """Share of queries whose most similar gallery record is the same SKU."""
    best = np.argmax(np.nan_to_num(sims, nan=-np.inf), axis=1)
    return float((gallery_ids[best] == query_ids).mean())


def _category_probe(blocks: Dict[str, np.ndarray], present: Dict[str, np.ndarray], labels: np.ndarray,
                    train: np.ndarray, test: np.ndarray, leave_one_out: bool) -> Dict[str, dict]:
    """Held-out category accuracy per modality, combined, and combined without each modality."""
    complete = np.all(np.stack(list(present.values())), axis=0)
    inputs = {m: _spline_block(blocks[m], train & present[m], present[m]) if m in DENSE_FEATURES
              else blocks[m] for m in MODALITY_NAMES}
    complete_acc = {m: _accuracy(inputs[m], labels, train & present[m], test & complete)
                    for m in MODALITY_NAMES}
    available_acc = {m: _accuracy(inputs[m], labels, train & present[m], test & present[m])
                     for m in MODALITY_NAMES}
    combined = _concat(inputs, present, MODALITY_NAMES)
    complete_acc['combined'] = _accuracy(combined, labels, train, test & complete)
    available_acc['combined'] = _accuracy(combined, labels, train, test)
    without = {m: _accuracy(_concat(inputs, present, [n for n in MODALITY_NAMES if n != m]), labels,
                            train, test & complete) for m in MODALITY_NAMES} if leave_one_out else {}
    return {'complete': complete_acc, 'available': available_acc, 'combined_without': without}


def _retrieval_probe(blocks: Dict[str, np.ndarray], present: Dict[str, np.ndarray], instances: np.ndarray,
                     queries: np.ndarray, gallery: np.ndarray) -> Dict[str, float]:
    """SKU precision@1 of ``queries`` against ``gallery`` per modality and combined."""
    sims = {m: _similarities(blocks[m], dense=m in DENSE_FEATURES, queries=queries, gallery=gallery,
                             present=present[m]) for m in MODALITY_NAMES}
    sims['combined'] = sum(_zscore_rows(s) for s in sims.values())
    return {m: _precision_at_1(s, instances[queries], instances[gallery]) for m, s in sims.items()}


def probe_demo_dataset(root: Union[str, Path], *, leave_one_out: bool = True) -> Dict[str, dict]:
    """Category accuracy and SKU precision@1 per modality and combined, from the files in ``root``.

    Returns:
        ``{'category_accuracy': {'complete': {m: acc, 'combined': acc}, 'available': {...},
        'combined_without': {m: acc}}, 'instance_p_at_1': {m: p, 'combined': p}, 'counts': {...}}``.
        ``complete`` scores the held-out records that have all five modalities (the same
        records in every column); ``available`` scores each modality on the held-out records
        that have it (and the combination on all of them); ``combined_without`` drops one
        modality from the combination (complete records; empty unless ``leave_one_out``).
        Retrieval uses the queries that have all five modalities.
    """
    root = Path(root)
    records = _read_manifest(root)
    split = np.array([r['split'] for r in records])
    train, test = split == 'train', np.isin(split, TEST_SPLITS)
    present = {m: np.array([r.get(m) is not None for r in records]) for m in MODALITY_NAMES}
    complete = np.all(np.stack(list(present.values())), axis=0)
    for name, rows in (('train', train & complete), ('held-out', test & complete)):
        if not rows.any():
            raise ValueError(f'{root} has no {name} records with all five modalities to probe; '
                             f'is it a demo catalogue (m5mm.experiments.catalogues.demo.make_demo_dataset)?')
    blocks = {m: _dense_block(root, records, m, train) if m in DENSE_FEATURES
              else _bag_block(records, m, train) for m in MODALITY_NAMES}
    labels, instances = (np.array([r[key] for r in records]) for key in ('category', 'instance'))
    queries, gallery = (split == 'query') & complete, split == 'gallery'
    counts = {'train': int(train.sum()), 'test': int(test.sum()),
              'test_complete': int((test & complete).sum()), 'queries_complete': int(queries.sum()),
              'gallery': int(gallery.sum())}
    return {'category_accuracy': _category_probe(blocks, present, labels, train, test, leave_one_out),
            'instance_p_at_1': _retrieval_probe(blocks, present, instances, queries, gallery),
            'counts': counts}


def format_probe(result: Dict[str, dict]) -> str:
    """A markdown table of :func:`probe_demo_dataset`'s result."""
    columns = list(MODALITY_NAMES) + ['combined']
    rows = [('category accuracy, complete records', result['category_accuracy']['complete']),
            ('category accuracy, records with the modality', result['category_accuracy']['available']),
            ('category accuracy, all modalities but this one (complete records)',
             result['category_accuracy']['combined_without']),
            ('SKU precision@1 (query -> gallery)', result['instance_p_at_1'])]
    lines = ['| probe | ' + ' | '.join(columns) + ' |', '|---' * (len(columns) + 1) + '|']
    for name, values in rows:
        if not values:
            continue
        cells = ['-' if values.get(c) is None else f'{100 * values[c]:.1f}' for c in columns]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    lines.append('counts: ' + ', '.join(f'{k} {v}' for k, v in result['counts'].items()))
    return '\n'.join(lines)
