"""Running the benchmark: every cell pretrained and evaluated once, finished cells skipped on rerun.

Layout of ``out_dir``::

    cells/<method>__<code>__seed<k>/   the cell's work dir: config.py, metrics.jsonl, train.log,
                                       cell.json (written at start), result.json (when finished),
                                       checkpoints/ (while running; removed when finished)
    results.json  table.md  plot.png   rewritten after every finished cell

A rerun skips every cell whose ``result.json`` was made with the same resolved config (a hash of
it, the budget included) and resumes an interrupted cell from its last checkpoint (the
trainer's exact resume). A cell whose stored config differs is an error (or, with
``rerun_changed=True``, is deleted and run again), so one table never mixes setups.
"""
from __future__ import annotations

import gc
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config

from m5mm.utils.distributed import unwrap_model

from .budget import Budget
from .cell_config import apply_budget, cell_config, config_fingerprint, describe, steps_per_epoch
from .cells import Cell, plan_cells
from .methods import DEFAULT_CONFIG_DIR
from .report import write_report
from .table import TABLE_KINDS

BENCHMARK_TASKS = ('retrieval', 'classification', 'clustering')
RESULT_FILE = 'result.json'
STARTED_FILE = 'cell.json'


class BenchmarkMismatchError(RuntimeError):
    """``out_dir`` holds a cell made with a different config than the one asked for."""


@dataclass
class BenchmarkSpec:
    """What to run. ``methods`` are names of ``configs/fusion/<name>_5mod.py`` (or config paths),
    ``modality_sets`` tuples of modality names, ``size`` a :data:`m5mm.experiments.paper_tables.sizes.SIZES` key,
    ``cfg_options`` overrides applied to every cell alike, ``tables`` the table kinds to write
    (``'methods'``: comparison per modality set, ``'modalities'``: ablation per method)."""

    methods: Sequence[str]
    modality_sets: Sequence[Tuple[str, ...]]
    seeds: Sequence[int]
    budget: Budget
    data_root: str
    out_dir: str
    size: str = 'small'
    config_dir: str = str(DEFAULT_CONFIG_DIR)
    cfg_options: Dict[str, Any] = field(default_factory=dict)
    tasks: Sequence[str] = BENCHMARK_TASKS
    keep_checkpoints: bool = False
    rerun_changed: bool = False
    tables: Sequence[str] = TABLE_KINDS
    diagnose: bool = False

    def cells(self) -> List[Cell]:
        """The plan, seed-major."""
        return plan_cells(self.methods, self.modality_sets, self.seeds)

    def describe(self) -> Dict[str, Any]:
        """JSON-friendly summary for ``results.json``."""
        return dict(methods=list(self.methods), modality_sets=[list(m) for m in self.modality_sets],
                    seeds=list(self.seeds), budget=str(self.budget), data_root=str(self.data_root),
                    size=self.size, cfg_options=dict(self.cfg_options), tasks=list(self.tasks),
                    tables=list(self.tables), diagnose=self.diagnose)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + '.tmp')
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def resolve_cell(cell: Cell, spec: BenchmarkSpec) -> Tuple[Config, Dict[str, Any]]:
    """The full config of ``cell`` (budget applied) and its info (``fingerprint`` included)."""
    cfg, info = cell_config(cell, data_root=spec.data_root, size=spec.size, config_dir=spec.config_dir,
                            cfg_options=spec.cfg_options)
    steps = steps_per_epoch(cfg)
    cfg = apply_budget(cfg, spec.budget, steps)
    info.update(steps_per_epoch=steps, total_steps=spec.budget.total_steps(steps),
                fingerprint=config_fingerprint(cfg) + f'-{spec.budget}')
    return cfg, info


def _check_stored(cell_dir: Path, fingerprint: str, rerun_changed: bool) -> Optional[dict]:
    """The stored result if it matches ``fingerprint``; clears or refuses a mismatching cell."""
    for name in (RESULT_FILE, STARTED_FILE):
        stored = _read_json(cell_dir / name)
        if stored is None or stored.get('fingerprint') == fingerprint:
            if stored is not None and name == RESULT_FILE:
                return stored
            continue
        if rerun_changed:
            shutil.rmtree(cell_dir)
            return None
        raise BenchmarkMismatchError(
            f'{cell_dir} was made with a different config (fingerprint {stored.get("fingerprint")}, now '
            f'{fingerprint}: budget {stored.get("budget")}, size {stored.get("size")}); use another --out, '
            f'delete that directory, or pass --rerun-changed')
    return None


def _last_loss(work_dir: Path) -> Optional[float]:
    path = work_dir / 'metrics.jsonl'
    if not path.is_file():
        return None
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]).get('loss') if lines else None


def train_and_evaluate(cfg: Config, work_dir: Path, budget: Budget, tasks: Sequence[str],
                       diagnose: bool = False) -> Dict[str, Any]:
    """Pretrain ``cfg`` for ``budget`` in ``work_dir`` (resuming its latest checkpoint), then run
    the downstream ``tasks`` (and, with ``diagnose``, :func:`~m5mm.experiments.paper_tables.diagnosis.diagnose_model`);
    returns the metrics and run facts."""
    from m5mm.evaluation.evaluate import evaluate_model
    from m5mm.engine.trainer import Trainer
    tic = time.perf_counter()
    trainer = Trainer(cfg, work_dir=str(work_dir), resume='auto')
    resumed_from = trainer.state.step
    try:
        if budget.total_steps(trainer.steps_per_epoch) > 0:
            trainer.train(max_steps=budget.max_steps())
        train_s = time.perf_counter() - tic
        tic = time.perf_counter()
        metrics = evaluate_model(trainer.model, trainer.cfg, tasks=tasks, accelerator=trainer.accelerator)
        eval_s = time.perf_counter() - tic
        if diagnose:
            from .diagnosis import diagnose_model
            extra = dict(diagnosis=diagnose_model(unwrap_model(trainer.model), trainer.cfg))
        else:
            extra = {}
        facts = dict(**extra, steps=trainer.state.step, epochs=trainer.max_epochs, resumed_from_step=resumed_from,
                     num_parameters=trainer.num_parameters(), final_loss=_last_loss(work_dir),
                     train_seconds=round(train_s, 1), eval_seconds=round(eval_s, 1))
        trainer.accelerator.end_training()
    finally:
        trainer.close()
        del trainer
        gc.collect()
    return dict(metrics=metrics, **facts)


def run_cell(cell: Cell, spec: BenchmarkSpec, *, log: Callable[[str], None] = print) -> Tuple[dict, bool]:
    """Run (or load) one cell; returns its result and whether it was trained now."""
    cfg, info = resolve_cell(cell, spec)
    cell_dir = Path(spec.out_dir) / 'cells' / cell.name
    stored = _check_stored(cell_dir, info['fingerprint'], spec.rerun_changed)
    if stored is not None:
        return stored, False
    cell_dir.mkdir(parents=True, exist_ok=True)
    head = dict(method=cell.method, label=cell.label, modalities=list(cell.modalities), code=cell.code,
                seed=cell.seed, budget=str(spec.budget), size=spec.size, **info)
    _write_json(cell_dir / STARTED_FILE, head)
    dropped = info['dropped_objectives']
    log(f'{cell.name}: {info["total_steps"]} steps ({info["steps_per_epoch"]}/epoch) from {info["config"]}; '
        + '; '.join(describe(cfg)) + (f'; dropped objectives {dropped}' if dropped else ''))
    result = dict(head, **train_and_evaluate(cfg, cell_dir, spec.budget, spec.tasks, spec.diagnose))
    _write_json(cell_dir / RESULT_FILE, result)
    if not spec.keep_checkpoints:
        shutil.rmtree(cell_dir / 'checkpoints', ignore_errors=True)
    return result, True


def _summary_line(result: Mapping[str, Any]) -> str:
    m = result['metrics']
    parts = []
    if 'retrieval_coarse' in m:
        parts.append(f"coarse mAP@1 {100 * m['retrieval_coarse']['mAP@1']:.1f}")
        parts.append(f"fine mAP@1 {100 * m['retrieval_fine']['mAP@1']:.1f}")
    if 'classification' in m:
        parts.append(f"acc {100 * m['classification']['accuracy']:.1f}")
    if 'clustering' in m:
        parts.append(f"NMI {100 * m['clustering']['NMI']:.1f}")
    return ', '.join(parts)


def run_benchmark(spec: BenchmarkSpec, *, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run every cell of ``spec`` not finished yet and write ``results.json``, ``table.md`` and
    ``plot.png`` into ``spec.out_dir`` (after every cell, so a stopped run leaves a partial table).

    Returns:
        ``{'results': [cell results], 'trained': [cell names], 'skipped': [cell names],
        'table': markdown}``.
    """
    out_dir = Path(spec.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = spec.cells()
    results, trained, skipped = [], [], []
    tic = time.perf_counter()
    for k, cell in enumerate(cells, 1):
        result, ran = run_cell(cell, spec, log=log)
        results.append(result)
        (trained if ran else skipped).append(cell.name)
        elapsed = time.perf_counter() - tic
        eta = elapsed / max(1, len(trained)) * sum(1 for c in cells[k:]) if trained else 0.0
        log(f'[{k}/{len(cells)}] {cell.name}: {"trained" if ran else "done before"} - {_summary_line(result)}'
            + (f' ({result["train_seconds"]:.0f} s train, {result["eval_seconds"]:.0f} s eval; '
               f'at most ~{eta / 60:.0f} min left)' if ran else ''))
        if ran or k == len(cells):
            table = write_report(results, spec.describe(), out_dir, final=k == len(cells))
    return dict(results=results, trained=trained, skipped=skipped, table=table)
