"""What every downstream task returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict


@dataclass
class TaskResult:
    """A task's results and the counts behind them.

    Attributes:
        results: result name -> metric -> value (``{'retrieval_coarse': {'mAP@1': .., ...}}``).
        counts: how many items were scored or skipped (queries without a positive, ...), as the
            task reports them; empty when it has none.
    """

    results: Dict[str, Dict[str, float]]
    counts: Dict[str, Any] = field(default_factory=dict)
