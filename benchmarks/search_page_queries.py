"""Issue 22: what the search page returns for typed queries and photos, by the result products' modalities.

    # 1. a catalogue whose products have mixed modalities (written next to the catalogue's manifest)
    python benchmarks/search_page_queries.py --write-manifest --data-root CATALOGUE
    # 2. index it with the exported model, then measure the queries against that index
    python tools/build_index.py MODEL --data-root CATALOGUE --manifest CATALOGUE/manifest_mixed.jsonl --out INDEX
    python benchmarks/search_page_queries.py --model MODEL --index INDEX --data-root CATALOGUE \
        --json benchmarks/results/issue22_search_page.json

The query lists were fixed before any result was seen: TYPED_QUERIES, a few words a user would type for
categories of the emoji catalogue (docs/emoji_data.md), each with the category it asks for (--typed categories:
every category name of the index instead, for the demo catalogue); and PHOTO_QUERIES photos, the image files of
the first query-split products (manifest order) whose image shows the product (not one of the catalogue's
deliberately wrong images). The photo-query products are left out of the mixed manifest,
so a photo never finds its own product.

The mixed manifest (--write-manifest, seed 0) reduces each remaining product, with probability 1/3 each, to its
title only, to its image only, or keeps it as catalogued (a product lacking the chosen modality stays as
catalogued): a gallery of text-only, image-only and complete products as a shop has them.

For every query: precision@10 (share of the top 10 whose category is the intended one), its ceiling
(min(10, products of that category in the index) / 10), and how many of the top 10 (and of the correct ones)
are text-only, image-only, complete (all five modalities) or partial (any other subset). Searched with
m5mm.api.search on the index folder's vectors, the code path of tools/search.py and the service's POST /search.
"""
import argparse
import json
import os
import random
import sys
import time
from collections import Counter
from typing import Dict, List, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from m5mm.structures import BUILTIN_MODALITIES as ALL  # noqa: E402
MIXED_MANIFEST = 'manifest_mixed.jsonl'
K = 10
PHOTO_QUERIES = 20
#: (query a user types, the category it asks for): categories of the emoji catalogue, fixed up front
TYPED_QUERIES = (
    ('fruit', 'food-fruit'),
    ('vegetable', 'food-vegetable'),
    ('bird', 'animal-bird'),
    ('flower', 'plant-flower'),
    ('clothing', 'clothing'),
    ('musical instrument', 'musical-instrument'),
    ('country flag', 'country-flag'),
    ('heart', 'heart'),
    ('car', 'transport-ground'),
    ('airplane', 'transport-air'),
    ('boat', 'transport-water'),
    ('weather', 'sky & weather'),
)
PATTERNS = ('text-only', 'image-only', 'complete', 'partial')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', required=True, help='the catalogue folder (holding manifest.jsonl)')
    parser.add_argument('--write-manifest', action='store_true', help=f'write DATA_ROOT/{MIXED_MANIFEST} and stop')
    parser.add_argument('--seed', type=int, default=0, help='seed of the mixed manifest (default 0)')
    parser.add_argument('--model', help='the model folder the index was built with')
    parser.add_argument('--index', help='the index folder of tools/build_index.py on the mixed manifest')
    parser.add_argument('--typed', default='emoji', choices=('emoji', 'categories'),
                        help='typed queries: TYPED_QUERIES (emoji catalogue), or every category name of the index '
                             'typed as it is (e.g. the demo catalogue)')
    parser.add_argument('--tower-reference', action='store_true',
                        help='also rank the photo queries against every indexed product\'s own image by the frozen '
                             'image tower\'s mean-pooled features (DATA_ROOT/features, tools/cache_features.py) and '
                             'by the model\'s image-only vectors')
    parser.add_argument('--json', default=None, help='write the figures here')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    if not args.write_manifest and not (args.model and args.index):
        parser.error('give --write-manifest, or --model and --index')
    return args


def read_manifest(data_root: str) -> List[dict]:
    with open(os.path.join(data_root, 'manifest.jsonl')) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def photo_queries(data_root: str, records: Sequence[dict]) -> List[dict]:
    """The first PHOTO_QUERIES query-split records whose image is the product's own."""
    with open(os.path.join(data_root, 'noise.json')) as handle:
        noise = json.load(handle)   # emoji: wrong_media; demo: corrupted_factors
    wrong = set(noise.get('wrong_media', {}).get('image', {}))
    wrong |= set(noise.get('corrupted_factors', {}).get('image', []))
    chosen = [r for r in records if r.get('split') == 'query' and r.get('image') and r['id'] not in wrong]
    return chosen[:PHOTO_QUERIES]


def pattern(modalities: Sequence[str]) -> str:
    """text-only / image-only / complete (all five) / partial."""
    present = set(modalities)
    if present == {'text'}:
        return 'text-only'
    if present == {'image'}:
        return 'image-only'
    return 'complete' if present == set(ALL) else 'partial'


def mixed_manifest(records: Sequence[dict], held_out: set, seed: int) -> List[dict]:
    """Every record not in ``held_out``, reduced to its title or its image or kept, 1/3 each."""
    rng = random.Random(seed)
    out = []
    for record in records:
        if record['id'] in held_out:
            continue
        keep = rng.choice(('text', 'image', None))
        record = dict(record)
        if keep is not None and record.get(keep):
            for m in ALL:
                if m != keep:
                    record[m] = None
        out.append(record)
    return out


def write_manifest(args: argparse.Namespace) -> None:
    records = read_manifest(args.data_root)
    held_out = {r['id'] for r in photo_queries(args.data_root, records)}
    mixed = mixed_manifest(records, held_out, args.seed)
    path = os.path.join(args.data_root, MIXED_MANIFEST)
    with open(path, 'w') as handle:
        for record in mixed:
            handle.write(json.dumps(record) + '\n')
    counts = Counter(pattern([m for m in ALL if r.get(m)]) for r in mixed)
    print(f'{path}: {len(mixed)} products ({len(held_out)} photo-query products left out); {dict(counts)}')


def score_hits(rows: Sequence[dict], category: str, available: int) -> Dict:
    """precision@K, its ceiling, and the top K / the correct ones by presence pattern."""
    top = rows[:K]
    correct = [r for r in top if r['category'] == category]
    return dict(precision=len(correct) / K, ceiling=min(K, available) / K,
                hits={p: sum(pattern(r['modalities']) == p for r in top) for p in PATTERNS},
                correct={p: sum(pattern(r['modalities']) == p for r in correct) for p in PATTERNS},
                top=[dict(id=r['id'], category=r['category'], modalities=r['modalities'], score=round(r['score'], 4))
                     for r in top])


def summarise(rows: Sequence[dict]) -> Dict:
    """Mean precision and ceiling; per pattern: hits, correct hits and their precision."""
    out = dict(queries=len(rows), precision=sum(r['precision'] for r in rows) / len(rows),
               ceiling=sum(r['ceiling'] for r in rows) / len(rows))
    for p in PATTERNS:
        hits, correct = sum(r['hits'][p] for r in rows), sum(r['correct'][p] for r in rows)
        out[p] = dict(hits=hits, correct=correct, precision=correct / hits if hits else None)
    return out


def image_ranking(queries: np.ndarray, gallery: np.ndarray, photos: Sequence[dict], products: Sequence[dict]) -> Dict:
    """precision@K of the category and the share of queries whose first hit is another listing of the same item
    (among the queries that have one), ranking ``gallery`` rows by cosine."""
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    gallery = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    top = np.argsort(-(queries @ gallery.T), axis=1, kind='stable')[:, :K]
    precision = np.mean([[products[j]['category'] == q['category'] for j in row] for q, row in zip(photos, top)])
    has_sibling = [i for i, q in enumerate(photos) if any(p['instance'] == q['instance'] for p in products)]
    first = sum(products[top[i][0]]['instance'] == photos[i]['instance'] for i in has_sibling)
    return dict(precision=float(precision), same_item_first=int(first), queries_with_item=len(has_sibling))


def tower_reference(args: argparse.Namespace, encoder, ids: Sequence[str], photos: Sequence[dict]) -> Dict:
    """The photo queries against every indexed product that has its own image, image alone: the frozen tower's
    mean-pooled cached features and the model's image-only vectors."""
    by_id = {r['id']: r for r in read_manifest(args.data_root)}
    with open(os.path.join(args.data_root, 'features', 'manifest.jsonl')) as handle:
        cached = {r['id']: r.get('image_feat') for r in map(json.loads, handle)}
    products = [by_id[i] for i in ids if by_id[i].get('image') and cached.get(i)]

    def pooled(records):
        return np.stack([np.load(os.path.join(args.data_root, cached[r['id']])).astype(np.float32).mean(0)
                         for r in records])

    def model(records):
        images = [dict(id=r['id'], image=r['image']) for r in records]
        return encoder.encode(images, data_root=args.data_root, progress=False).features

    return dict(gallery=len(products), frozen_tower=image_ranking(pooled(photos), pooled(products), photos, products),
                model_image_only=image_ranking(model(photos), model(products), photos, products))


def measure(args: argparse.Namespace) -> Dict:
    import torch
    torch.set_num_threads(1)
    from m5mm.api import ProductEncoder
    from m5mm.api.search import search
    from m5mm.serve import CatalogueIndex
    from m5mm.serve.ranked_products import ranked_products
    catalogue = CatalogueIndex.load(args.index)
    encoder = ProductEncoder.from_pretrained(args.model, device=args.device)
    catalogue.check_model(encoder)
    records = read_manifest(args.data_root)
    indexed = catalogue.products.many(list(catalogue.index.ids))
    per_category = Counter(row['category'] for row in indexed.values())
    index_patterns = Counter(pattern([m for m in (row.get('modalities') or '').split(',') if m])
                             for row in indexed.values())

    def run(**query) -> List[dict]:
        result = search(encoder, catalogue.index, k=K, **query)
        return ranked_products(catalogue, result.ids[0], result.scores[0])

    queries = TYPED_QUERIES if args.typed == 'emoji' else tuple((c, c) for c in sorted(per_category))
    tic = time.perf_counter()
    typed = [dict(query=text, category=category, **score_hits(run(text=text), category, per_category[category]))
             for text, category in queries]
    photos = []
    for record in photo_queries(args.data_root, records):
        path = os.path.join(args.data_root, record['image'])
        photos.append(dict(query=record['image'], product=record['id'], category=record['category'],
                           **score_hits(run(image=path), record['category'], per_category[record['category']])))
    out = dict(model=args.model, index=args.index, data_root=args.data_root, num_products=len(catalogue.index),
               index_patterns=dict(index_patterns), k=K, seconds=round(time.perf_counter() - tic, 1),
               chance_photo=sum(per_category[p['category']] for p in photos) / len(photos) / len(catalogue.index),
               typed=dict(summary=summarise(typed), queries=typed),
               photo=dict(summary=summarise(photos), queries=photos))
    if args.tower_reference:
        out['photo_reference'] = tower_reference(args, encoder, list(catalogue.index.ids),
                                                 photo_queries(args.data_root, records))
    return out


def table(result: Dict) -> str:
    """Markdown rows: one per typed query, then the means of typed and photo queries."""
    head = ('| query | intended category | P@10 | ceiling | top 10: text-only / image-only / complete / partial '
            '| correct: text-only / image-only / complete / partial |')
    lines = [head, '|' + '---|' * 6]

    def split(counts: Dict) -> str:
        return ' / '.join(str(counts[p]) for p in PATTERNS)

    for row in result['typed']['queries']:
        lines.append(f"| {row['query']} | {row['category']} | {row['precision']:.1f} | {row['ceiling']:.1f} "
                     f"| {split(row['hits'])} | {split(row['correct'])} |")
    for kind in ('typed', 'photo'):
        s = result[kind]['summary']
        hits = {p: s[p]['hits'] for p in PATTERNS}
        correct = {p: s[p]['correct'] for p in PATTERNS}
        lines.append(f"| **{kind} queries, mean of {s['queries']}** | | **{s['precision']:.2f}** | {s['ceiling']:.2f} "
                     f"| {split(hits)} | {split(correct)} |")
    return '\n'.join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.write_manifest:
        write_manifest(args)
        return
    result = measure(args)
    print(table(result))
    for kind in ('typed', 'photo'):
        s = result[kind]['summary']
        print(kind, 'precision of the hits by pattern:',
              {p: (round(s[p]['precision'], 3) if s[p]['precision'] is not None else None) for p in PATTERNS})
    print(f"photo queries: chance precision@{K} {result['chance_photo']:.3f}")
    if 'photo_reference' in result:
        print('photo queries against every indexed product\'s own image:', json.dumps(result['photo_reference']))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as handle:
            json.dump(result, handle, indent=1)
        print('wrote', args.json)


if __name__ == '__main__':
    main()
