"""The library does not depend on the experiment code (``m5mm.experiments``, as ``open_clip`` does not on
``open_clip_train``): no module outside it imports it, and importing the library never loads it."""
import ast
import subprocess
import sys
from pathlib import Path

import m5mm

LIBRARY = Path(m5mm.__file__).parent
EXPERIMENTS = LIBRARY / 'experiments'


def _imported_modules(path: Path):
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    package = path.relative_to(LIBRARY.parent).with_suffix('').parts[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            module = '.'.join(base + ([node.module] if node.module else []))
            yield module
            yield from (f'{module}.{alias.name}' for alias in node.names)


def test_no_library_module_imports_the_experiments():
    offenders = []
    for path in sorted(LIBRARY.rglob('*.py')):
        if EXPERIMENTS in path.parents:
            continue
        bad = {m for m in _imported_modules(path) if m == 'm5mm.experiments' or m.startswith('m5mm.experiments.')}
        offenders += [f'{path.relative_to(LIBRARY.parent)}: {name}' for name in sorted(bad)]
    assert not offenders, 'library modules import experiment code:\n' + '\n'.join(offenders)


def test_the_import_resolver_sees_imports():
    """The scan above would pass vacuously if it missed imports: it finds the experiments' own."""
    names = set(_imported_modules(EXPERIMENTS / 'catalogues' / 'bazaar' / 'generate.py'))
    assert 'm5mm.experiments.catalogues.demo.design.MODALITY_NAMES' in names


def test_importing_the_library_loads_no_experiment_code():
    code = ('import sys, m5mm, m5mm.api, m5mm.models, m5mm.engine, m5mm.datasets, m5mm.evaluation, m5mm.serve\n'
            'from m5mm.registry import all_registries\n'
            'for name, reg in all_registries().items():\n'
            '    if name != "catalogue": reg.import_from_location()\n'
            'print(sorted(m for m in sys.modules if m.startswith("m5mm.experiments")))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[]'


def test_every_m5mm_import_of_the_tools_and_benchmarks_resolves():
    """Scripts import m5mm inside functions too; a renamed library name must not break them unnoticed."""
    import importlib.util
    repo = LIBRARY.parent
    missing = []
    for path in sorted([*(repo / 'tools').glob('*.py'), *(repo / 'benchmarks').glob('*.py')]):
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or '').startswith('m5mm')):
                continue
            module = importlib.import_module(node.module)
            missing += [f'{path.name}: {node.module}.{a.name}' for a in node.names
                        if not hasattr(module, a.name) and importlib.util.find_spec(f'{node.module}.{a.name}') is None]
    assert not missing, missing
