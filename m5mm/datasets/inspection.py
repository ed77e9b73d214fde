"""Looking at a dataset: records, modality coverage, broken files and the category long tail.

``tools/inspect_dataset.py`` is a thin command line around :func:`inspect_dataset`,
:func:`format_report` and :func:`plot_report`.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from m5mm.registry import DATASETS

from .base_dataset import BaseProductDataset
from .errors import MediaError
from .paths import resolve_media_path
from .data_argument import dataset_cfg_from_target
from .transforms.decode import check_file

Problem = Tuple[str, str, str, str]  # (id, modality, reason, field value)


@dataclass
class InspectionReport:
    """What :func:`inspect_dataset` found.

    Attributes:
        name: the dataset's description.
        num_records: records in the inspected split(s).
        splits: split -> number of records.
        examples: the first records (normalised).
        in_record: modality -> records that name it.
        usable: modality -> records whose file exists (or, with ``decoded``, decodes).
        problems: ``(id, modality, reason, path)`` for every unusable modality.
        category_counts: category name -> records (unlabelled ones under None).
        bad_lines: ``(where, reason)`` of malformed records that were skipped.
        decoded: whether every file was actually decoded.
    """

    name: str
    num_records: int
    splits: Dict[str, int]
    examples: List[dict]
    in_record: Dict[str, int]
    usable: Dict[str, int]
    problems: List[Problem]
    category_counts: Dict[Optional[str], int]
    bad_lines: List[Tuple[str, str]] = field(default_factory=list)
    decoded: bool = False

    def problem_counts(self) -> Dict[str, Dict[str, int]]:
        """modality -> reason -> count."""
        counts: Dict[str, Counter] = {}
        for _, modality, reason, _ in self.problems:
            counts.setdefault(modality, Counter())[reason] += 1
        return {m: dict(c) for m, c in counts.items()}


def _check_path(dataset: BaseProductDataset, value: str) -> Optional[str]:
    try:
        check_file(resolve_media_path(dataset.data_root, value))
    except MediaError as exc:
        return exc.reason
    return None


def inspect_dataset(dataset: BaseProductDataset, *, decode: bool = False,
                    num_examples: int = 3) -> InspectionReport:
    """Check every record of ``dataset``: files exist (and decode, with ``decode=True``); for a
    shard folder, what was stored and found unusable when it was built (or now, with ``decode``)."""
    if hasattr(dataset, 'sources'):
        from .shards.inspection import inspect_shards
        return inspect_shards(dataset, decode=decode, num_examples=num_examples)
    in_record, usable, splits, categories = Counter(), Counter(), Counter(), Counter()
    problems: List[Problem] = []
    for index, record in enumerate(dataset.records):  # each record is parsed once, here
        splits[record['split']] += 1
        categories[record['category']] += 1
        errors: Dict[str, str] = {}
        for name, spec in dataset.specs.items():
            value = record['fields'][name]
            if value is None:
                continue
            in_record[name] += 1
            if decode:
                dataset.run_pipeline(name, value, record['id'], index, errors)
                reason = errors.get(name)
            else:
                reason = _check_path(dataset, value) if spec.reads_path else None
            if reason is None:
                usable[name] += 1
            else:
                problems.append((record['id'], name, reason, value if spec.reads_path else ''))
    return InspectionReport(
        name=repr(dataset), num_records=len(dataset), splits=dict(splits),
        examples=[dict(r) for r in dataset.records[:num_examples]],
        in_record={m: in_record[m] for m in dataset.specs}, usable={m: usable[m] for m in dataset.specs},
        problems=problems, category_counts=dict(categories),
        bad_lines=list(dataset.bad_lines), decoded=decode)


def long_tail_summary(counts: Dict[Optional[str], int], *, head: int = 5, tail_max: int = 5) -> List[str]:
    """Lines describing the category distribution: head categories, the tail, imbalance."""
    labelled = sorted(((n, c) for c, n in counts.items() if c is not None), key=lambda nc: (-nc[0], nc[1]))
    unlabelled = f' (+{counts[None]} unlabelled records)' if counts.get(None) else ''
    lines = [f'categories: {len(labelled)}{unlabelled}']
    if not labelled:
        return lines
    total = sum(n for n, _ in labelled)
    lines.append('  head: ' + ', '.join(f'{c} {n}' for n, c in labelled[:head]))
    top = max(1, round(0.2 * len(labelled)))
    top_share = sum(n for n, _ in labelled[:top]) / total
    tail = [c for n, c in labelled if n <= tail_max]
    lines.append(f'  long tail: the top 20% of categories ({top}) hold {100 * top_share:.1f}% of records; '
                 f'{len(tail)} categories have <= {tail_max} records; '
                 f'largest/smallest = {labelled[0][0]}/{labelled[-1][0]} '
                 f'= {labelled[0][0] / labelled[-1][0]:.1f}')
    return lines


def _pct(part: int, whole: int) -> str:
    return f'{100 * part / whole:5.1f}%' if whole else '   - '


def format_report(report: InspectionReport, *, max_problems: int = 20) -> str:
    """A human-readable text of ``report``."""
    n = report.num_records
    lines = [report.name,
             f'records: {n} (' + ', '.join(f'{s} {c}' for s, c in sorted(report.splits.items())) + ')',
             f'malformed records skipped: {len(report.bad_lines)}']
    lines += [f'  {where}: {reason}' for where, reason in report.bad_lines[:max_problems]]
    lines.append(f'first {len(report.examples)} records:')
    lines += ['  ' + json.dumps(r, ensure_ascii=False, default=str)[:300] for r in report.examples]
    check = 'decoded' if report.decoded else 'file found'
    lines.append(f'modality coverage (in record / {check}):')
    counts = report.problem_counts()
    width = max([8] + [len(m) for m in report.in_record])  # plugin modalities may have longer names
    for modality in report.in_record:
        bad = ', '.join(f'{reason} {c}' for reason, c in sorted(counts.get(modality, {}).items()))
        found = report.in_record[modality]
        lines.append(f'  {modality:<{width}} {found:>6} {_pct(found, n)}'
                     f'   {report.usable[modality]:>6} {_pct(report.usable[modality], n)}'
                     + (f'   problems: {bad}' if bad else ''))
    if report.problems:
        shown = report.problems[:max_problems]
        lines.append(f'missing / corrupt files ({len(shown)} of {len(report.problems)}):')
        lines += [f'  {rid}  {modality}: {reason}  {value}' for rid, modality, reason, value in shown]
    lines += long_tail_summary(report.category_counts)
    return '\n'.join(lines)


def plot_report(report: InspectionReport, path: str) -> str:
    """Write a figure (coverage per modality, sorted category counts) to ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax_cov, ax_cat) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(report.in_record)
    n = max(report.num_records, 1)
    xs = range(len(names))
    ax_cov.bar([x - 0.2 for x in xs], [report.in_record[m] / n for m in names], width=0.4, label='in record')
    ax_cov.bar([x + 0.2 for x in xs], [report.usable[m] / n for m in names], width=0.4,
               label='decoded' if report.decoded else 'file found')
    ax_cov.set_xticks(list(xs), names)
    ax_cov.set_ylim(0, 1.05)
    ax_cov.set_ylabel('share of records')
    ax_cov.set_title('modality coverage')
    ax_cov.legend()
    counts = sorted((c for k, c in report.category_counts.items() if k is not None), reverse=True)
    ax_cat.bar(range(len(counts)), counts, width=1.0)
    if counts and counts[0] > 10 * counts[-1]:
        ax_cat.set_yscale('log')
    ax_cat.set_xlabel('category rank')
    ax_cat.set_ylabel('records')
    ax_cat.set_title(f'category sizes ({len(counts)} categories)')
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def dataset_for_inspection(target: str, *, split: Optional[str] = None, decode: bool = False,
                           modalities: Optional[Sequence[str]] = None,
                           cfg_options: Optional[dict] = None) -> BaseProductDataset:
    """Build the dataset to inspect from a data folder or a config (see :func:`dataset_cfg_from_target`).

    Malformed records are skipped and reported; without ``decode`` no tokenizer is loaded or trained.
    """
    cfg = dataset_cfg_from_target(target, split=split, modalities=modalities, cfg_options=cfg_options)
    if cfg['type'] != 'ShardedDataset':
        cfg['on_bad_line'] = 'skip'
    if not decode and cfg['type'] != 'ShardedDataset':
        cfg['tokenizer'] = None
    return DATASETS.build(cfg)
