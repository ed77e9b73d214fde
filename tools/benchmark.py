"""``python tools/benchmark.py`` in a clone, the ``m5mm-benchmark`` command once installed:
:mod:`m5mm.experiments.commands.benchmark`."""
try:
    import _clone  # noqa: F401  (run as a script: this clone's m5mm first on the path)
except ModuleNotFoundError:   # imported as tools.benchmark by code that has m5mm already
    pass
from m5mm.experiments.commands.benchmark import *  # noqa: F401,F403
from m5mm.experiments.commands.benchmark import main

if __name__ == '__main__':
    main()
