"""Ranking with graded relevance: nDCG@K and MRR of queries against a gallery.

For a query, the gallery is ranked by score (ties by gallery order, as :func:`exact_topk`);
``rel_i`` is the grade of the item at rank i (1-based; unlisted items have grade 0)::

    DCG@K  = sum_{i<=K} gain(rel_i) / log2(i + 1),   gain(r) = 2^r - 1 ('exponential') or r ('linear')
    nDCG@K = DCG@K / IDCG@K                          (IDCG: the grades sorted best first)
    RR     = 1 / (rank of the first item with grade > 0)     (over the whole gallery)

nDCG@K and MRR are means over the queries with at least one relevant gallery item; the others
are skipped and counted. ``gain='linear'`` is scikit-learn's ``ndcg_score``.
"""
from __future__ import annotations

from typing import Dict, Mapping, Sequence, Tuple

import torch
from torch import Tensor

from ..topk import DEFAULT_GALLERY_CHUNK, as_feature_tensor, exact_topk, prepare_similarity

GAINS = ('exponential', 'linear')
Relevance = Sequence[Mapping[int, float]]   # per query: gallery row -> grade (> 0)


def gain_of(grades: Tensor, gain: str) -> Tensor:
    """The gain of each grade."""
    if gain not in GAINS:
        raise ValueError(f'gain must be one of {GAINS}, got {gain!r}')
    return torch.pow(2.0, grades) - 1.0 if gain == 'exponential' else grades


def _grades_of_ranking(indices: Tensor, relevance: Relevance) -> Tensor:
    """(Q, K) gallery rows -> (Q, K) float64 grades."""
    out = torch.zeros(indices.shape, dtype=torch.float64)
    for q, (row, rel) in enumerate(zip(indices.tolist(), relevance)):
        out[q] = torch.tensor([float(rel.get(i, 0.0)) for i in row], dtype=torch.float64)
    return out


def ndcg_from_ranking(indices: Tensor, relevance: Relevance, k: int, gain: str = 'exponential') -> Tensor:
    """(Q,) nDCG@k of rankings ``indices`` (Q, >= min(k, G)) for ``relevance``."""
    grades = _grades_of_ranking(indices[:, :k], relevance)
    discount = 1.0 / torch.log2(torch.arange(2, grades.shape[1] + 2, dtype=torch.float64))
    dcg = (gain_of(grades, gain) * discount).sum(dim=1)
    ideal = torch.zeros_like(dcg)
    for q, rel in enumerate(relevance):
        best = torch.tensor(sorted(rel.values(), reverse=True)[:grades.shape[1]], dtype=torch.float64)
        ideal[q] = (gain_of(best, gain) * discount[:len(best)]).sum()
    return dcg / ideal.clamp_min(1e-300)


def first_relevant_rank(query: Tensor, gallery: Tensor, relevance: Relevance, *,
                        gallery_chunk: int = DEFAULT_GALLERY_CHUNK) -> Tensor:
    """(Q,) 1-based rank of the best-ranked relevant item of each query (queries need one).

    One query at a time, its (G,) scores computed in gallery blocks (memory O(G)).
    """
    ranks = torch.zeros(len(relevance), dtype=torch.long)
    for q, rel in enumerate(relevance):
        scores = torch.cat([gallery[g0:g0 + gallery_chunk] @ query[q]
                            for g0 in range(0, gallery.shape[0], gallery_chunk)])
        rows = torch.tensor(sorted(rel), dtype=torch.long)
        top = int(rows[int(torch.argmax(scores[rows]))])   # argmax keeps the first (lowest row) of ties
        best = scores[top]
        ahead = (scores > best).sum() + (scores[:top] == best).sum()
        ranks[q] = int(ahead) + 1
    return ranks


def graded_retrieval_metrics(query_features, gallery_features, relevance: Relevance, *, k: int = 10,
                             gain: str = 'exponential', similarity: str = 'dot',
                             return_counts: bool = False):
    """nDCG@k and MRR of each query's ranking of the gallery.

    Args:
        query_features: (Q, D). gallery_features: (G, D).
        relevance: per query, ``{gallery row: grade > 0}`` (rows not listed have grade 0).
        k: the nDCG cut-off. gain: 'exponential' (2^rel - 1) or 'linear' (rel).
        similarity: 'dot' or 'cosine'.

    Returns:
        ``{'nDCG@k': .., 'MRR': ..}`` (NaN when no query has a relevant item), and
        ``{'num_queries', 'num_evaluated'}`` with ``return_counts``.
    """
    query = as_feature_tensor(query_features, 'query_features')
    gallery = as_feature_tensor(gallery_features, 'gallery_features')
    if len(relevance) != query.shape[0]:
        raise ValueError(f'{len(relevance)} relevance maps for {query.shape[0]} queries')
    gain_of(torch.zeros(1), gain)   # validates gain
    query, gallery = prepare_similarity(query, gallery, similarity)
    relevance = [{int(i): float(g) for i, g in rel.items() if float(g) > 0} for rel in relevance]
    bad = [i for rel in relevance for i in rel if not 0 <= i < gallery.shape[0]]
    if bad:
        raise ValueError(f'relevance names gallery rows {bad[:5]} outside [0, {gallery.shape[0]})')
    keep = [q for q, rel in enumerate(relevance) if rel]
    counts = {'num_queries': len(relevance), 'num_evaluated': len(keep)}
    out = {f'nDCG@{k}': float('nan'), 'MRR': float('nan')}
    if keep:
        query, kept = query[keep], [relevance[q] for q in keep]
        _, indices = exact_topk(query, gallery, k)
        out[f'nDCG@{k}'] = float(ndcg_from_ranking(indices, kept, k, gain).mean())
        out['MRR'] = float((1.0 / first_relevant_rank(query, gallery, kept).double()).mean())
    return (out, counts) if return_counts else out


def relevance_rows(relevance_by_id: Sequence[Mapping[str, float]], gallery_ids: Sequence[str]
                   ) -> Tuple[list, Dict[str, int]]:
    """Per query ``{product id: grade}`` -> ``{gallery row: grade}``; also counts ids not in the gallery."""
    row_of = {pid: row for row, pid in enumerate(gallery_ids)}
    rows, unknown = [], 0
    for rel in relevance_by_id:
        mapped = {}
        for pid, grade in rel.items():
            if pid in row_of:
                mapped[row_of[pid]] = float(grade)
            else:
                unknown += 1
        rows.append(mapped)
    return rows, {'unknown_ids': unknown}
