"""Helpers shared by the plugin's tests (a module of its own so that its name never clashes)."""
from __future__ import annotations

from pathlib import Path

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
