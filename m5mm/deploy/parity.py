"""Torch against ONNX: the same records, with random subsets of their modalities, through both backends."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np


def read_manifest_records(data_root: str, *, limit: int = 0) -> List[Dict[str, Any]]:
    """The records of ``DATA_ROOT/manifest.jsonl`` (the first ``limit``; 0 = all)."""
    path = Path(data_root) / 'manifest.jsonl'
    if not path.is_file():
        raise FileNotFoundError(f'{data_root} has no manifest.jsonl (give the catalogue folder)')
    records = [json.loads(line) for line in path.read_text(encoding='utf-8').splitlines() if line.strip()]
    return records[:limit] if limit else records


def record_fields(encoder: Any) -> Dict[str, str]:
    """{modality: the record field holding it} of an encoder's pipelines."""
    return {m: spec.record_field for m, spec in encoder.preprocessor.specs.items()}


def has_value(value: Any) -> bool:
    """Whether a record field holds something (not None, not an empty string or list)."""
    return value is not None and not (isinstance(value, (str, list, tuple, dict)) and len(value) == 0)


def usable_records(records: Sequence[Mapping[str, Any]], fields: Mapping[str, str]) -> List[Mapping[str, Any]]:
    """The records that have at least one of the modalities of ``fields``."""
    return [r for r in records if any(has_value(r.get(f)) for f in fields.values())]


def covering_records(records: Sequence[Mapping[str, Any]], fields: Mapping[str, str], *,
                     count: int = 8) -> List[Mapping[str, Any]]:
    """Up to ``count`` records that together have every modality (first those adding a new one)."""
    chosen, seen = [], set()
    for record in records:
        new = {m for m, f in fields.items() if has_value(record.get(f))} - seen
        if new:
            chosen.append(record)
            seen |= new
    missing = sorted(set(fields) - seen)
    if missing:
        raise ValueError(f'no record has {missing}: the export needs an example of every modality')
    rest = [r for r in records if not any(r is c for c in chosen)]
    return (chosen + rest)[:max(count, len(chosen))]


def random_subsets(records: Sequence[Mapping[str, Any]], fields: Mapping[str, str], *, seed: int = 0
                   ) -> List[Dict[str, Any]]:
    """Each record with a random non-empty subset of the modalities it has (the others removed)."""
    rng = np.random.default_rng(seed)
    out = []
    for record in records:
        have = [m for m, f in fields.items() if has_value(record.get(f))]
        if not have:
            continue
        keep = [m for m in have if rng.random() < 0.5] or [have[int(rng.integers(len(have)))]]
        dropped = {fields[m] for m in have if m not in keep}
        out.append({k: v for k, v in record.items() if k not in dropped})
    return out


def top_k(vectors: np.ndarray, k: int) -> np.ndarray:
    """(N, k) indices of each row's k nearest other rows by inner product (itself left out)."""
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    return np.argsort(-scores, axis=1, kind='stable')[:, :k]


def compare_vectors(reference: np.ndarray, other: np.ndarray, *, k: int = 10) -> Dict[str, float]:
    """How far ``other`` (N, D) is from ``reference``: largest absolute difference, smallest cosine, and the
    retrieval change among the rows (the share of top-1 neighbours kept, the mean overlap of the top-k)."""
    diff = float(np.abs(reference - other).max())
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(other, axis=1)
    cosine = float(np.min((reference * other).sum(axis=1) / np.maximum(norms, 1e-12)))
    k = min(k, len(reference) - 1)
    a, b = top_k(reference, k), top_k(other, k)
    overlap = float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b)]))
    return dict(max_abs_diff=diff, min_cosine=cosine, top1_same=float(np.mean(a[:, 0] == b[:, 0])),
                topk_overlap=overlap, k=k, rows=len(reference))


def check_parity(torch_encoder: Any, onnx_encoder: Any, records: Sequence[Mapping[str, Any]], *,
                 data_root: str, seeds: Sequence[int] = (0, 1, 2), batch_size: int = 16) -> Dict[str, Any]:
    """Both backends' vectors of ``records`` whole and with random modality subsets (one draw per seed);
    records with none of the model's modalities are left out (``skipped`` counts them)."""
    fields = record_fields(torch_encoder)
    usable = usable_records(records, fields)
    runs = dict(all=usable)
    runs.update({f'subsets_seed{s}': random_subsets(usable, fields, seed=s) for s in seeds})
    rows = {}
    for name, batch in runs.items():
        kw = dict(data_root=data_root, batch_size=batch_size, progress=False)
        reference = torch_encoder.encode(batch, **kw).features
        rows[name] = compare_vectors(reference, onnx_encoder.encode(batch, **kw).features)
    worst = max(r['max_abs_diff'] for r in rows.values())
    return dict(runs=rows, max_abs_diff=worst, quantize=onnx_encoder.model.quantize,
                skipped=len(records) - len(usable))
