"""The import rules of docs/concepts.md: the library does not depend on the experiment code (``m5mm.experiments``,
as ``open_clip`` does not on ``open_clip_train``), the inference API and server import no training code, checkpoint
storage imports nothing above the utilities, and importing the library never loads code it must not."""
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


#: The foundation every package may import.
BASE = {'utils', 'registry', 'structures', 'version', 'third_party_logs', '__version__'}
#: What each package of the library may import besides :data:`BASE` and itself (the picture in docs/concepts.md).
#: ``datasets`` and ``models`` are one layer: data transforms use the pretrained towers' processors and the
#: parameter-budget tool builds a dataset's meta.
MAY_IMPORT = {
    'utils': {'datasets'},   # utils.config recognises a shard folder (a lazy import)
    'checkpoint': set(),
    'datasets': {'models', 'checkpoint'},
    'models': {'datasets', 'checkpoint'},
    'evaluation': {'datasets', 'models', 'checkpoint'},
    'engine': {'datasets', 'models', 'checkpoint', 'evaluation'},
    'api': {'datasets', 'models', 'checkpoint', 'evaluation', 'deploy'},   # backend='onnx' runs m5mm.deploy
    'deploy': {'datasets', 'models', 'checkpoint', 'evaluation', 'api'},   # ONNX export of a model folder
    'serve': {'datasets', 'models', 'checkpoint', 'evaluation', 'api'},
    'commands': {'datasets', 'models', 'checkpoint', 'evaluation', 'engine', 'api', 'serve', 'deploy'},
    'testing': {'datasets', 'models', 'engine'},   # plugin test helpers: tiny batches, a tokenizer, a training run
}
#: Packages that hold training code: the inference API and the server load none of them.
TRAINING = ('m5mm.engine', 'm5mm.experiments')


def _package(module: str) -> str:
    """``m5mm.checkpoint.weights`` -> ``checkpoint`` (the top-level package or module under ``m5mm``)."""
    return module.split('.')[1] if module.count('.') else module


def test_every_package_imports_only_what_it_may():
    offenders = []
    for path in sorted(LIBRARY.rglob('*.py')):
        parts = path.relative_to(LIBRARY).parts
        own = parts[0].removesuffix('.py') if len(parts) > 1 else None
        if own not in MAY_IMPORT:
            continue
        allowed = BASE | MAY_IMPORT[own] | {own}
        bad = {m for m in _imported_modules(path) if m.startswith('m5mm.') and _package(m) not in allowed}
        offenders += [f'{path.relative_to(LIBRARY.parent)}: {name}' for name in sorted(bad)]
    assert not offenders, 'imports that break the rules of docs/concepts.md:\n' + '\n'.join(offenders)


def test_every_library_package_has_import_rules():
    """A new package must say what it may import (and docs/concepts.md show it)."""
    packages = {p.name for p in LIBRARY.iterdir() if (p / '__init__.py').is_file()}
    assert packages - {'experiments'} == set(MAY_IMPORT)
    concepts = (LIBRARY.parent / 'docs' / 'concepts.md').read_text(encoding='utf-8')
    assert all(f'm5mm.{name}' in concepts for name in MAY_IMPORT)


def test_the_api_and_server_load_no_training_code():
    """Importing every module of ``m5mm.api`` and ``m5mm.serve`` loads nothing from the engine or experiments."""
    modules = sorted('.'.join(p.relative_to(LIBRARY.parent).with_suffix('').parts).removesuffix('.__init__')
                     for sub in ('api', 'serve') for p in (LIBRARY / sub).rglob('*.py'))
    code = (f'import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n'
            f'print(sorted(m for m in sys.modules if m.startswith({TRAINING!r})))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == '[]'


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
    commands = [*(LIBRARY / 'commands').glob('*.py'), *(EXPERIMENTS / 'commands').glob('*.py')]
    for path in sorted([*(repo / 'tools').glob('*.py'), *(repo / 'benchmarks').glob('*.py'), *commands]):
        for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or '').startswith('m5mm')):
                continue
            module = importlib.import_module(node.module)
            missing += [f'{path.name}: {node.module}.{a.name}' for a in node.names if a.name != '*' and
                        not hasattr(module, a.name) and importlib.util.find_spec(f'{node.module}.{a.name}') is None]
    assert not missing, missing


def test_every_tool_is_a_console_command_and_a_clone_script():
    """``python tools/NAME.py`` (a clone) and ``m5mm-NAME`` (installed) run the same ``main``; only
    tools/_clone.py touches ``sys.path``."""
    import configparser
    repo = LIBRARY.parent
    parser = configparser.ConfigParser()
    parser.read(repo / 'setup.cfg')
    scripts = dict(line.split(' = ') for line in parser['options.entry_points']['console_scripts'].strip().splitlines())
    tools = sorted(p.stem for p in (repo / 'tools').glob('*.py') if p.stem != '_clone')
    assert sorted(scripts) == [f"m5mm-{name.replace('_', '-')}" for name in tools]
    for name in tools:
        module, _, function = scripts[f"m5mm-{name.replace('_', '-')}"].partition(':')
        assert module.rsplit('.', 1)[1] == name and function == 'main'
        assert f'from {module} import main' in (repo / 'tools' / f'{name}.py').read_text(encoding='utf-8')
    touching = sorted(p.name for p in [*(repo / 'tools').glob('*.py'), *LIBRARY.rglob('*.py')]
                      if 'sys.path.insert' in p.read_text(encoding='utf-8'))
    assert touching == ['_clone.py']


def test_each_repeated_literal_lives_in_one_place():
    """Issue 23 finding 7: the ``generate_if_missing`` scrub (:func:`m5mm.utils.config.reading_dataset_cfg`), the
    built-in modality names (:data:`m5mm.structures.BUILTIN_MODALITIES`), and no reference to a method document
    that does not ship (docs/method.md is the method)."""
    import re
    repo = LIBRARY.parent
    texts = {p: p.read_text(encoding='utf-8') for p in LIBRARY.rglob('*.py')}
    scrubs = sorted(str(p.relative_to(repo)) for p, t in texts.items() if "pop('generate_if_missing'" in t)
    assert scrubs == []   # one helper: reading_dataset_cfg
    names = re.compile(r"\(\s*'image',\s*'text',\s*'table',\s*'video',\s*'audio'\s*\)")
    assert sorted(str(p.relative_to(repo)) for p, t in texts.items() if names.search(t)) == ['m5mm/structures.py']
    shipped = [*texts, *(repo / 'docs').glob('*.md'), *(repo / 'configs').rglob('*.py'), repo / 'README.md']
    assert [p for p in shipped if 'SCALE_SPEC' in Path(p).read_text(encoding='utf-8')] == []
    assert (repo / 'docs' / 'method.md').is_file()
