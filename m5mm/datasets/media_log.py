"""``WORK_DIR/media_report.json``: media that could not be read, per split and epoch (or evaluation).

Layout::

    {"train": {"samples_in_split": 64, "bad_manifest_lines": {"count": 1, "examples": [["m.jsonl:7", "..."]]},
               "epochs": [{"epoch": 0, "step": 8, "complete": true, "samples_read": 64, "errors_total": 3,
                           "errors": {"image": {"corrupt image": 3}}, "examples": {"image: corrupt image": [...]}}]},
     "query": {"samples_in_split": 12, "bad_manifest_lines": {...}, "evaluations": [{"step": 16, ...}]},
     "gallery": {...}}
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict

from m5mm.utils.files import atomic_write_json

MEDIA_FILE = 'media_report.json'
MAX_BAD_LINE_EXAMPLES = 10
logger = logging.getLogger(__name__)


def gather_report(report, accelerator=None):
    """``report`` merged over every process (a collective: every process calls it)."""
    from m5mm.datasets import MediaReport
    if accelerator is None or accelerator.num_processes == 1:
        return report
    from accelerate.utils import gather_object
    merged = MediaReport(max_examples=report.max_examples)
    for state in gather_object([report.state_dict()]):
        merged.merge_state(state)
    return merged


def dataset_entry(dataset) -> Dict[str, Any]:
    """What a split's dataset holds: its size and the malformed manifest lines it skipped."""
    bad = list(getattr(dataset, 'bad_lines', []))
    return dict(samples_in_split=len(dataset),
                bad_manifest_lines=dict(count=len(bad), examples=[list(b) for b in bad[:MAX_BAD_LINE_EXAMPLES]]))


def report_entry(report) -> Dict[str, Any]:
    """A :class:`~m5mm.datasets.MediaReport` as a JSON entry: samples read, errors by modality and reason."""
    state = report.state_dict()
    return dict(samples_read=state['num_samples'], errors_total=report.total, errors=state['counts'],
                examples={f'{m}: {r}': ids for m, r, ids in state['examples']})


def record_media_entry(work_dir: Path, split: str, *, dataset: Dict[str, Any], entry: Dict[str, Any],
                       series: str, key: str) -> Path:
    """Put ``entry`` into ``media_report.json`` under ``split`` -> ``series`` (e.g. ``epochs``), replacing
    the entries whose ``key`` is not smaller (an epoch trained again after a resume)."""
    path = Path(work_dir) / MEDIA_FILE
    data: Dict[str, Any] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError:
            logger.warning('%s is not valid JSON; it is written anew', path)
    section = data.setdefault(split, {})
    section.update(dataset)
    section[series] = [e for e in section.get(series, []) if e.get(key, -1) < entry[key]] + [entry]
    return atomic_write_json(path, data)
