"""Brute-force reference computations (plain Python loops) for the evaluation tests."""
from __future__ import annotations

import math

import numpy as np


def ranked_gallery(q, g, qid=None, gids=None):
    """Gallery indices of one query, best first, ties by gallery order; the query's own id left out."""
    items = []
    for j in range(len(g)):
        if qid is not None and gids is not None and gids[j] == qid:
            continue
        items.append((float(np.dot(q.astype(np.float64), g[j].astype(np.float64))), j))
    return [j for _, j in sorted(items, key=lambda t: (-t[0], t[1]))]


def retrieval_reference(q, g, ql, gl, ks, qids=None, gids=None, no_positive='skip', cutoff='k'):
    """mAP@K / Prec@K / Recall@K / M5Prec@K by the M5Product protocol, one query at a time."""
    sums = {f'{n}@{k}': 0.0 for n in ('mAP', 'Prec', 'Recall', 'M5Prec') for k in ks}
    used = 0
    for i in range(len(q)):
        ranked = ranked_gallery(q[i], g, None if qids is None else qids[i], gids)
        rel = [ql[i] >= 0 and gl[j] == ql[i] for j in ranked]
        npos = sum(rel)
        if npos == 0:
            if no_positive == 'zero':
                used += 1
            continue
        used += 1
        for k in ks:
            kp = min(k, npos, len(ranked))
            in_top_k = sum(rel[:k])
            sums[f'Prec@{k}'] += in_top_k / k
            sums[f'Recall@{k}'] += in_top_k / npos
            window = k if cutoff == 'k' else kp
            hits, ap = 0, 0.0
            for r in range(min(window, len(ranked))):
                if rel[r]:
                    hits += 1
                    ap += hits / (r + 1)
            sums[f'M5Prec@{k}'] += hits / kp
            sums[f'mAP@{k}'] += ap / hits if hits else 0.0
    return {key: (v / used if used else math.nan) for key, v in sums.items()}, used


def cross_modal_reference(q, g, qkeys, gkeys, ks):
    """Recall@K and full-ranking mAP, queries without positives skipped."""
    recall = {k: 0 for k in ks}
    ap_sum, used = 0.0, 0
    for i in range(len(q)):
        ranked = ranked_gallery(q[i], g)
        rel = [qkeys[i] == gkeys[j] for j in ranked]
        if not any(rel):
            continue
        used += 1
        hits, ap = 0, 0.0
        for r, is_pos in enumerate(rel):
            if is_pos:
                hits += 1
                ap += hits / (r + 1)
        ap_sum += ap / hits
        for k in ks:
            recall[k] += any(rel[:k])
    out = {f'R@{k}': recall[k] / used for k in ks}
    out['mAP'] = ap_sum / used
    return out
