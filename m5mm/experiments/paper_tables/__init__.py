"""The fusion benchmark: pretrain and evaluate every (method, modality set, seed) cell with the
same budget and data, then write the paper's comparison tables (``tools/benchmark.py``)."""
from .budget import Budget
from .cell_config import apply_budget, cell_config, config_fingerprint, steps_per_epoch
from .cells import Cell, parse_seeds, plan_cells
from .methods import DEFAULT_METHODS, METHOD_LABELS, method_config, method_label, parse_methods
from .modality_sets import CODES, modality_code, parse_modality_set, parse_modality_sets
from .plot import plot_tables
from .report import load_results, write_report
from .runner import BenchmarkMismatchError, BenchmarkSpec, resolve_cell, run_benchmark, run_cell
from .sizes import SIZES, SizePreset, apply_size, get_size, shrink_model
from .subset import restrict_modalities, restrict_model
from .table import COLUMNS, TABLE_KINDS, Stat, aggregate, comparison_tables, markdown_table

__all__ = ['BenchmarkMismatchError', 'BenchmarkSpec', 'Budget', 'CODES', 'COLUMNS', 'Cell', 'DEFAULT_METHODS',
           'METHOD_LABELS', 'SIZES', 'SizePreset', 'Stat', 'TABLE_KINDS', 'aggregate', 'apply_budget', 'apply_size',
           'cell_config', 'comparison_tables', 'config_fingerprint', 'get_size', 'load_results', 'markdown_table',
           'method_config', 'method_label', 'modality_code', 'parse_methods', 'parse_modality_set',
           'parse_modality_sets', 'parse_seeds', 'plan_cells', 'plot_tables', 'resolve_cell',
           'restrict_modalities', 'restrict_model', 'run_benchmark', 'run_cell', 'shrink_model',
           'steps_per_epoch', 'write_report']
