"""The plugin API of docs/plugins.md §9 imports, and the repository's plugins use nothing else."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / 'plugins'
ROW = re.compile(r'^\| `(m5mm(?:\.\w+)*)` \| (.*) \|$')


def documented_api() -> Dict[str, Set[str]]:
    """module -> names, from the table of docs/plugins.md §9."""
    text = (REPO / 'docs' / 'plugins.md').read_text(encoding='utf-8')
    section = text[text.index('## 9. '):text.index('### Migrating')]
    api: Dict[str, Set[str]] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            api[match.group(1)] = set(re.findall(r'`([A-Za-z_]\w*)`', match.group(2)))
    return api


def m5mm_imports(path: Path) -> Iterator[Tuple[int, str, str]]:
    """(line, module, name) of every ``from m5mm... import name`` / ``import m5mm...`` in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or '').split('.')[0] == 'm5mm':
            for alias in node.names:
                yield node.lineno, node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == 'm5mm':
                    yield node.lineno, alias.name, ''


def test_every_documented_name_imports():
    api = documented_api()
    assert {'m5mm.testing', 'm5mm.datasets', 'm5mm.models.encoders'} <= set(api)
    assert {'generation_lock', 'train_tokenizer'} <= api['m5mm.datasets']
    assert 'TokenEncoder' in api['m5mm.models.encoders']
    missing = [f'{module}.{name}' for module, names in api.items() for name in sorted(names)
               if not hasattr(importlib.import_module(module), name)]
    assert not missing, f'docs/plugins.md §9 lists names that do not exist: {missing}'


@pytest.mark.parametrize('plugin', ['m5mm-pointcloud', 'template'])
def test_the_plugins_use_only_the_documented_api(plugin):
    api = documented_api()
    wrong = []
    for path in sorted((PLUGINS / plugin).rglob('*.py')):
        for line, module, name in m5mm_imports(path):
            ok = (module == 'm5mm' and (not name or f'm5mm.{name}' in api)) or (module in api and name in api[module]) \
                or (not name and module in api)
            if not ok:
                wrong.append(f'{path.relative_to(REPO)}:{line}: {module} {name}'.strip())
    assert not wrong, f'imports outside the plugin API of docs/plugins.md §9: {wrong}'
