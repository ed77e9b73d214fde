"""Counting media that could not be used, from batches (works with DataLoader workers)."""
from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Optional


class MediaReport:
    """Aggregates ``batch['meta']['errors']`` in the main process.

    Each sample's errors travel with its batch, so the counts are right whatever the number
    of DataLoader workers. ``counts`` is ``{modality: {reason: n}}``.

    Args:
        max_examples: sample ids remembered per (modality, reason), for the summary.
    """

    def __init__(self, *, max_examples: int = 3) -> None:
        self.max_examples = max_examples
        self.counts: Dict[str, Dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.examples: Dict[tuple, List[str]] = defaultdict(list)
        self.num_samples = 0

    def update(self, meta: dict) -> None:
        """Add one batch's ``meta`` (needs ``errors``; ``ids`` give examples)."""
        errors = meta.get('errors') or []
        ids = meta.get('ids') or [None] * len(errors)
        self.num_samples += len(errors)
        for sample_id, sample_errors in zip(ids, errors):
            for modality, reason in (sample_errors or {}).items():
                self.counts[modality][reason] += 1
                examples = self.examples[(modality, reason)]
                if sample_id is not None and len(examples) < self.max_examples:
                    examples.append(str(sample_id))

    @property
    def total(self) -> int:
        """Number of (sample, modality) errors seen."""
        return sum(n for reasons in self.counts.values() for n in reasons.values())

    def as_dict(self) -> Dict[str, Dict[str, int]]:
        """``counts`` as plain nested dicts."""
        return {m: dict(reasons) for m, reasons in self.counts.items()}

    def reset(self) -> None:
        """Forget everything (e.g. at the start of an epoch)."""
        self.counts.clear()
        self.examples.clear()
        self.num_samples = 0

    def summary(self, title: Optional[str] = None) -> str:
        """One line per modality: ``image: 3 corrupt image (e.g. A1, A7), 1 missing file``."""
        head = title or 'media errors'
        if not self.total:
            return f'{head}: none in {self.num_samples} samples'
        lines = [f'{head}: {self.total} in {self.num_samples} samples '
                 f'(those modalities were treated as absent)']
        for modality in sorted(self.counts):
            parts = []
            for reason, n in sorted(self.counts[modality].items(), key=lambda kv: (-kv[1], kv[0])):
                examples = self.examples.get((modality, reason))
                parts.append(f'{n} {reason}' + (f' (e.g. {", ".join(examples)})' if examples else ''))
            lines.append(f'  {modality}: ' + ', '.join(parts))
        return '\n'.join(lines)

    def state_dict(self) -> dict:
        """A JSON-able copy: ``{'num_samples', 'counts': {modality: {reason: n}}, 'examples': [[m, r, ids]]}``."""
        return dict(num_samples=self.num_samples, counts=self.as_dict(),
                    examples=[[m, r, list(ids)] for (m, r), ids in self.examples.items()])

    def load_state_dict(self, state: dict) -> None:
        """Replace the counts with :meth:`state_dict`'s output."""
        self.reset()
        self.merge_state(state)

    def merge_state(self, state: dict) -> None:
        """Add another report's :meth:`state_dict` (e.g. another process's) to this one."""
        self.num_samples += int(state.get('num_samples', 0))
        for modality, reasons in state.get('counts', {}).items():
            for reason, n in reasons.items():
                self.counts[modality][reason] += int(n)
        for modality, reason, ids in state.get('examples', []):
            examples = self.examples[(modality, reason)]
            for sample_id in ids:
                if sample_id not in examples and len(examples) < self.max_examples:
                    examples.append(sample_id)

    def __getstate__(self):
        return dict(self.state_dict(), max_examples=self.max_examples)

    def __setstate__(self, state):
        self.__init__(max_examples=state['max_examples'])
        self.merge_state(state)
