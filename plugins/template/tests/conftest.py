"""Make the template package importable without installing it (a copied plugin is installed with
``pip install -e .`` and does not need this file)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
