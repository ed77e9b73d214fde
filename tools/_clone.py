"""Run from a clone, ``python tools/NAME.py`` uses the clone's m5mm even when another m5mm is installed (the one
place that touches ``sys.path``; installed, every tool is a ``m5mm-NAME`` command instead, see setup.cfg)."""
import os
import sys

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)
