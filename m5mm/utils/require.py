"""Guards for optional dependencies: a clear message naming the extra to install."""
from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that names ``pip install m5mm[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f'{module!r} is needed for this feature: pip install "m5mm[{extra}]" '
                          f'(or pip install {module}). Original error: {exc}') from exc
