"""The model card (``README.md``) of a model folder: usage, training data, evaluation, robustness."""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Sequence

from m5mm.version import __version__


def portable_path(value: Any, *, start: Optional[str] = None) -> Any:
    """``value`` as the card shows it: an absolute path becomes relative to ``start`` (default: the current
    directory) when inside it, else its last two components (``demo/manifest.jsonl``), so a card never
    names the folders of the machine it was made on. Anything else is returned unchanged."""
    if not isinstance(value, str) or not os.path.isabs(value):
        return value
    start = os.path.abspath(start or os.getcwd())
    path = os.path.normpath(value)
    if start != os.sep and os.path.commonpath([path, start]) == start:
        return os.path.relpath(path, start)
    return '/'.join(path.split(os.sep)[-2:]).lstrip('/') or path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table."""
    lines = ['| ' + ' | '.join(map(str, header)) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(map(str, row)) + ' |' for row in rows]
    return '\n'.join(lines)


def _pct(value: Any) -> str:
    return f'{100 * value:.2f}' if isinstance(value, (int, float)) and value == value else 'n/a'


#: What the retrieval columns of the card mean (docs/evaluation.md of m5mm has the protocol).
RETRIEVAL_METRICS_NOTE = ('Retrieval: Prec@K = hits in the top K / K, Recall@K = hits in the top K / #positives, '
                          'M5Prec@K = hits in the top K / min(K, #positives), the M5Product paper\'s "Prec@K"; '
                          'mAP@K averages the precision at each hit in the top K over those hits.')


def results_tables(results: Mapping[str, Mapping[str, float]]) -> str:
    """One markdown table per group of results with the same metrics (values in %)."""
    from m5mm.evaluation.tasks.runner import group_results
    groups = group_results(results)
    return '\n\n'.join(markdown_table(['task'] + list(results[g[0]]),
                                      [[n] + [_pct(v) for v in results[n].values()] for n in g]) for g in groups)


def robustness_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Retrieval mAP per set of modalities present at query (and gallery) time."""
    body = []
    for row in rows:
        coarse, fine = row.get('retrieval_coarse', {}), row.get('retrieval_fine', {})
        body.append([' + '.join(row['modalities']), _pct(coarse.get('mAP@10')), _pct(coarse.get('mAP@100')),
                     _pct(fine.get('mAP@10')), _pct(fine.get('mAP@100'))])
    return markdown_table(['modalities present', 'coarse mAP@10', 'coarse mAP@100', 'fine mAP@10',
                           'fine mAP@100'], body)


def prefix_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Retrieval mAP@1 with the vectors cut to their first d dimensions, and the bytes per product."""
    body = [[row['dim'], row['bytes_float32'], row['bytes_int8'], _pct(row.get('retrieval_coarse', {}).get('mAP@1')),
             _pct(row.get('retrieval_fine', {}).get('mAP@1'))] for row in rows]
    return markdown_table(['dimensions', 'bytes (float32)', 'bytes (int8)', 'coarse mAP@1', 'fine mAP@1'], body)


def data_section(data: Mapping[str, Any]) -> str:
    """The training data summary: source, records, categories, modality coverage."""
    lines = [f'- source: `{portable_path(data.get("source", "?"))}`',
             f'- training records: {data.get("num_records", "?")}',
             f'- categories: {data.get("num_categories", "?")}']
    lines += [f'- {line.strip()}' for line in data.get('long_tail', [])[1:]]
    coverage = data.get('coverage') or {}
    if coverage:
        lines.append('')
        lines.append(markdown_table(['modality', 'share of training records'],
                                    [[m, f'{100 * c:.1f}%'] for m, c in coverage.items()]))
    return '\n'.join(lines)


def render_card(config: Mapping[str, Any], evaluation: Optional[Mapping[str, Any]] = None, *,
                source: Optional[str] = None) -> str:
    """The card text for a model folder's ``config`` (``m5mm_model.json`` content) and ``evaluation``."""
    evaluation = dict(evaluation or {})
    model_type = config['model'].get('type', 'model')
    modalities = ', '.join(config['modalities'])
    dim = evaluation.get('dim')
    parts = ['---', 'library_name: m5mm', 'tags: [m5mm, multimodal, product-retrieval, e-commerce]', '---', '',
             f'# m5mm product encoder ({model_type})', '',
             f'A multi-modal product encoder trained with m5mm {__version__}: any subset of the modalities '
             f'**{modalities}** of a product in, one `{config["feature"]}` vector'
             f'{f" of {dim} dimensions" if dim else ""} out. Categories seen in training: '
             f'{len(config["data_meta"].get("categories") or [])}.', '',
             '## Use', '', '```python', 'from m5mm.api import ProductEncoder', '',
             "encoder = ProductEncoder.from_pretrained('THIS_FOLDER_OR_ORG/NAME')",
             "features, ids, present = encoder.encode([{'id': 'p1', 'text': 'red cotton t-shirt', "
             "'image': 'p1.jpg'}])",
             "queries = encoder.encode_text(['red sneakers'])", '```', '',
             'Search a catalogue: `python tools/build_index.py MODEL --data-root CATALOGUE --out INDEX`, then '
             '`python tools/serve.py MODEL --index INDEX` or `python tools/search.py MODEL --index INDEX --text '
             '"red sneakers"` (see docs/inference.md of m5mm).', '']
    if evaluation.get('data'):
        parts += ['## Training data', '', data_section(evaluation['data']), '']
    if evaluation.get('results'):
        where = evaluation.get('evaluated_on') or {}
        data_root = portable_path(where.get('data_root', '?'))
        parts += ['## Evaluation', '', f'On the query/gallery splits of `{data_root}` '
                  '(values in %; retrieval as in M5Product, zero-shot = nearest category name).', '',
                  RETRIEVAL_METRICS_NOTE, '',
                  results_tables(evaluation['results']), '']
    if evaluation.get('robustness'):
        parts += ['## Modality robustness', '',
                  'Retrieval with only some modalities present (`tools/test.py --modalities`, query and gallery):',
                  '', robustness_table(evaluation['robustness']), '']
    if evaluation.get('prefixes'):
        parts += ['## Vector dimensions (Matryoshka)', '',
                  'The model was trained with `MatryoshkaObjective`: the first d dimensions of its product vector, '
                  'renormalised, are a vector of their own. Retrieval with the vectors cut to d dimensions '
                  '(query and gallery), and what a product costs to store:', '',
                  prefix_table(evaluation['prefixes']), '']
    provenance = config.get('provenance') or {}
    if provenance:
        parts += ['## Provenance', '']
        parts += [f'- {key}: `{portable_path(value)}`' for key, value in provenance.items()] + ['']
    parts += ['## Files', '', '`m5mm_model.json` (config, pipelines, sha256 of every file), `model.safetensors`, '
              '`tokenizer/`, `evaluation.json`. Loading reads JSON and safetensors only and checks every hash.', '']
    return '\n'.join(parts)


def summarize_training_data(dataset) -> Dict[str, Any]:
    """The card's data summary of a (training) dataset, from :func:`inspect_dataset`."""
    from m5mm.datasets.inspection import inspect_dataset, long_tail_summary
    report = inspect_dataset(dataset)
    n = max(report.num_records, 1)
    labelled = {c: k for c, k in report.category_counts.items() if c is not None}
    return dict(source=getattr(dataset, 'source_name', dataset.data_root), num_records=report.num_records,
                splits=report.splits, num_categories=len(labelled),
                coverage={m: report.in_record[m] / n for m in report.in_record},
                long_tail=long_tail_summary(report.category_counts))
