"""Load a script of ``tools/`` or ``benchmarks/`` as a module, for the tests that call its functions."""
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Optional

REPO = Path(__file__).resolve().parents[1]


def load_script(relative_path: str, name: Optional[str] = None) -> ModuleType:
    """A fresh module executed from ``REPO / relative_path`` (e.g. ``'tools/export_model.py'``).

    ``name`` defaults to one derived from the path (``m5mm_script_tools_export_model``). Like a plain
    ``spec_from_file_location`` + ``exec_module``, the module is not registered in ``sys.modules``: each call
    runs the file again and returns a new module object.
    """
    path = REPO / relative_path
    if name is None:
        name = 'm5mm_script_' + '_'.join(Path(relative_path).with_suffix('').parts)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
